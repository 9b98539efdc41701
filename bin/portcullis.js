#!/usr/bin/env node
// Launcher: runs the TypeScript sources through tsx, so `npx portcullis` works right after `npm ci`
// with no build step (and no dist/ that could go stale).
import { register } from 'tsx/esm/api'

register()
await import('../gateway/cli.ts')
