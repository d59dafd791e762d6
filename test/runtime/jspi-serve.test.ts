// SPDX-License-Identifier: MIT
// The JSPI backend's serve loop: one promising call that runs a worker's calls one after another.
import binaryen from 'binaryen'
import { describe, expect, it } from 'vitest'
import { hasJspi, jspi } from '../../src/sched/jspi.js'
import { serveLoop } from '../../src/sched/jspi-serve.js'

/** Exports add(a, b) = a + b, of the loop's type, and answer() = 42, of another. */
function exports(): { add: (a: number, b: number) => number, answer: () => number } {
  const module = new binaryen.Module()
  try {
    const { i32 } = binaryen
    module.addFunction('add', binaryen.createType([i32, i32]), i32, [],
      module.i32.add(module.local.get(0, i32), module.local.get(1, i32)))
    module.addFunction('answer', binaryen.none, i32, [], module.i32.const(42))
    module.addFunctionExport('add', 'add')
    module.addFunctionExport('answer', 'answer')
    const instance = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(module.emitBinary())))
    return instance.exports as unknown as ReturnType<typeof exports>
  } finally {
    module.dispose()
  }
}

describe.runIf(hasJspi())('the JSPI serve loop', () => {
  it('runs call after call of its root in one promising call, parking in between', async () => {
    const { add } = exports()
    const results: number[] = []
    const resumes: ((arg0: number) => void)[] = []
    let arg1 = 0
    const serve = serveLoop(add, {
      next: (result) => {
        results.push(result)
        return new Promise((resume) => resumes.push(resume))
      },
      arg1: () => arg1,
    })
    if (serve === null) throw new Error('add is of the loop\'s type')
    const running = jspi.promising(serve)(2, 3)
    // The first call ran on the caller's stack and parked with its result.
    expect(results).toEqual([5])
    for (const [a, b] of [[4, 10], [-1, 1], [2 ** 31 - 1, 1]] as const) {
      arg1 = b
      resumes.shift()?.(a)
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(results).toEqual([5, 14, 0, -(2 ** 31)])
    expect(resumes).toHaveLength(1)
    void running
  })

  it('is no loop for a root of another type', () => {
    const { answer } = exports()
    expect(serveLoop(answer, { next: () => Promise.resolve(0), arg1: () => 0 })).toBeNull()
  })
})
