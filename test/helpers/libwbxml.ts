import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-libwbxml-'))

/** What libwbxml's wbxml2xml (an independent implementation) decodes from ActiveSync WBXML, whitespace between tags removed. */
export function libwbxml (body: Buffer): string {
  const file = join(dir, `r-${Math.random()}.wbxml`)
  writeFileSync(file, body)
  execFileSync('wbxml2xml', ['-l', 'ACTIVESYNC', '-o', file + '.xml', file], { stdio: 'ignore' })
  return readFileSync(file + '.xml', 'utf8').replace(/\s+</g, '<')
}
