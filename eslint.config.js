import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['node_modules/**', 'bench/results/**'] }),
  { rules: { 'no-void': ['error', { allowAsStatement: true }] } }
]
