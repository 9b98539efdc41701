// The module hooks the launcher runs the TypeScript sources with: esbuild strips the types, nothing
// more. Not tsx here: tsx compiles with esbuild's keepNames, which wraps every function the gateway
// creates per request in a defineProperty call; measured, that cost ~2 KB of heap per held Ping
// (the functions' property dictionaries) and CPU on every request. Tests still run under tsx.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { transform } from 'esbuild'

const SOURCE_ROOT = new URL('..', import.meta.url).href
const TSCONFIG = { compilerOptions: { target: 'ES2022', useDefineForClassFields: true, verbatimModuleSyntax: true } }

/** Our sources import './x.js' for './x.ts' (TypeScript's NodeNext convention). */
export async function resolve (specifier, context, next) {
  try {
    return await next(specifier, context)
  } catch (err) {
    const ours = context.parentURL?.startsWith(SOURCE_ROOT) && !context.parentURL.includes('/node_modules/')
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !ours || !specifier.endsWith('.js')) throw err
    return next(`${specifier.slice(0, -3)}.ts`, context)
  }
}

export async function load (url, context, next) {
  if (!url.startsWith(SOURCE_ROOT) || !url.endsWith('.ts') || url.includes('/node_modules/')) return next(url, context)
  const file = fileURLToPath(url)
  const { code } = await transform(await readFile(file, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20', sourcemap: 'inline', sourcefile: file, tsconfigRaw: TSCONFIG })
  return { format: 'module', source: code, shortCircuit: true }
}
