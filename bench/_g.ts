import { startKernel } from '../src/index.js'
const fibers = (process.argv[2] ?? undefined) as 'jspi' | 'asyncify' | undefined
const k = await startKernel({ snapshot: false, ...(fibers ? { fibers } : {}) })
const n = 100000; const r: number[] = []
for (let j = 0; j < 5; j++) { const s = performance.now(); for (let i = 0; i < n; i++) await k.sys.getpid(); r.push((performance.now() - s) * 1000 / n) }
console.log(k.image.fibers, 'getpid us', r.map((x) => x.toFixed(3)).join(' '))
await k.halt()
