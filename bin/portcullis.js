#!/usr/bin/env node
// Launcher: runs the TypeScript sources through esbuild's type stripping (bin/loader.mjs), so
// `npx portcullis` works right after `npm ci` with no build step (and no dist/ that could go stale).
import { register } from 'node:module'

process.setSourceMapsEnabled(true) // stack traces in the log point at the .ts lines
register('./loader.mjs', import.meta.url)
await import('../gateway/cli.ts')
