// SPDX-License-Identifier: MIT
/**
 * wasi.ts - WASI programs on uklkl beside the other WASI layers for JS: one C
 * program (built here with clang and Debian's wasi-libc) making N calls of one
 * kind, timed inside the program with clock_gettime so that start-up is left
 * out. Kinds:
 *   files  open + write 16 B + close + stat + unlink of a small file: 5 file
 *          operations a round, 20 000 rounds = 100 000 operations
 *   yield  sched_yield: the transport's round trip plus the cheapest syscall
 *   clock  clock_gettime: the same with a result to carry back
 * Runners, the same binary unmodified:
 *   uklkl       k.runWasi: a worker calling the kernel over a SharedArrayBuffer;
 *               the kernel's root filesystem (in memory)
 *   node:wasi   uvwasi over the host's files, on a directory of /dev/shm (tmpfs)
 *   wasi-js     its bindings.fs as Node's fs on /dev/shm, and as its in-memory fs
 *               (@cowasm/memfs, createFileSystem({ type: 'mem' }))
 *   @wasmer/wasi  wasmer's WASI compiled to wasm, on its MemFS
 * A runner that cannot run the binary is listed with the reason instead of a
 * figure. Then the transport alone: a worker making empty calls over the
 * channel (channel.ts) to a handler that answers at once, no kernel behind it.
 */
import { execFileSync } from 'node:child_process'
import nodeFs, { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { WASI } from 'node:wasi'
import { Worker } from 'node:worker_threads'
import { MemFS, WASI as WasmerWasi, init as initWasmer } from '@wasmer/wasi'
import wasiJsModule from 'wasi-js'
import wasiJsNodeBindings from 'wasi-js/dist/bindings/node.js'
import { startKernel } from '../src/index.js'
import { CHANNEL_BYTES, ChannelServer } from '../src/wasi/channel.js'
import { printTable, type Row, writeResults } from './report.js'

const SOURCE = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
int main(int argc, char **argv) {
  int n = atoi(argv[2]);
  double start = now();
  if (!strcmp(argv[1], "yield")) for (int i = 0; i < n; i++) sched_yield();
  else if (!strcmp(argv[1], "clock")) for (int i = 0; i < n; i++) now();
  else for (int i = 0; i < n; i++) {
    struct stat st;
    int fd = open("/bench/f", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "0123456789abcdef", 16) != 16 || close(fd) || stat("/bench/f", &st) || st.st_size != 16 ||
        unlink("/bench/f")) { perror("files"); return 1; }
  }
  printf("%f\\n", (now() - start) / n);
  return 0;
}
`

const RUNS: Record<string, number> = { files: 20_000, yield: 20_000, clock: 20_000 }
const CALLS_PER_OP: Record<string, number> = { files: 5, yield: 1, clock: 1 }
const TRANSPORT_CALLS = 200_000

/** A runner: µs per round as the program printed it; it throws when it cannot run the binary. */
type Runner = (args: string[]) => Promise<number>

/* wasi-js is CommonJS: its class and node bindings sit on the default export's default. */
interface WasiJsInstance {
  getImports(module: WebAssembly.Module): WebAssembly.Imports
  start(instance: WebAssembly.Instance): void
}
type WasiJsConstructor = new (config: object) => WasiJsInstance
const wasiJs = wasiJsModule as unknown as { default: WasiJsConstructor, createFileSystem(specs: object[]): object }
const wasiJsBindings = (wasiJsNodeBindings as unknown as { default: object }).default

/** The one number the program printed (µs per round). */
function figure(out: string, who: string): number {
  const value = Number(out.trim())
  if (out.trim() === '' || !Number.isFinite(value)) throw new Error(`${who} printed ${JSON.stringify(out)}`)
  return value
}

export async function wasiBench(): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'uklkl-bench-wasi-'))
  const shm = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'uklkl-bench-wasi-'))
  try {
    writeFileSync(path.join(work, 'ops.c'), SOURCE)
    const wasmFile = path.join(work, 'ops.wasm')
    execFileSync('clang-19', ['--target=wasm32-wasi', '--sysroot=/usr', '-O2', path.join(work, 'ops.c'), '-o', wasmFile])
    const module = new WebAssembly.Module(readFileSync(wasmFile))
    const k = await startKernel()
    await k.fs.mkdir('/bench')
    await initWasmer()

    const runners: Record<string, Runner> = {
      uklkl: async (args) => {
        let out = ''
        const code = await k.runWasi(module, { args, preopens: { '/bench': '/bench' }, stdout: (c) => { out += Buffer.from(c).toString() } })
        if (code !== 0) throw new Error(`exit ${code}`)
        return figure(out, 'uklkl')
      },
      'node:wasi (/dev/shm)': async (args) => {
        const outFile = path.join(work, 'out')
        const fd = openSync(outFile, 'w')
        try {
          const wasi = new WASI({ version: 'preview1', args, preopens: { '/bench': shm }, stdout: fd, returnOnExit: true })
          const code = wasi.start(new WebAssembly.Instance(module, wasi.getImportObject() as WebAssembly.Imports))
          if (code !== 0) throw new Error(`exit ${code}`)
        } finally {
          closeSync(fd)
        }
        return figure(readFileSync(outFile, 'utf8'), 'node:wasi')
      },
      'wasi-js (Node fs, /dev/shm)': async (args) => runWasiJs(module, args, nodeFs, shm),
      'wasi-js (memfs)': async (args) => {
        const fs = wasiJs.createFileSystem([{ type: 'mem', contents: { '/bench/.keep': '' } }])
        return runWasiJs(module, args, fs, '/bench')
      },
      '@wasmer/wasi (MemFS)': async (args) => {
        const fs = new MemFS()
        fs.createDir('/bench')
        const wasi = new WasmerWasi({ args, env: {}, preopens: { '/bench': '/bench' }, fs })
        const code = wasi.start(await wasi.instantiate(module, {}))
        if (code !== 0) throw new Error(`exit ${code}: ${wasi.getStderrString()}`)
        return figure(wasi.getStdoutString(), '@wasmer/wasi')
      },
    }

    const rows: Row[] = []
    for (const [kind, n] of Object.entries(RUNS)) {
      const args = ['ops', kind, String(n)]
      const perCall = CALLS_PER_OP[kind] ?? 1
      const results = new Map<string, number | string>()
      for (const [name, run] of Object.entries(runners)) {
        results.set(name, await run(args).catch((error: unknown) => `cannot run it: ${error instanceof Error ? error.message : String(error)}`))
      }
      const base = results.get('uklkl')
      for (const [name, result] of results) {
        rows.push(typeof result === 'number'
          ? {
            operation: kind, runner: name, rounds: n, 'file ops or calls': n * perCall, 'µs/round': result, 'µs/WASI call': result / perCall,
            'total ms': (result * n) / 1000, 'uklkl / this': typeof base === 'number' ? base / result : '',
          }
          : { operation: kind, runner: name, rounds: n, note: result })
      }
    }
    await k.halt()
    printTable('WASI calls from one wasm32-wasi C binary: uklkl (worker + SharedArrayBuffer → kernel) beside the other WASI layers', rows)

    const transport = await transportRoundTrip(TRANSPORT_CALLS)
    const transportRows: Row[] = [{ calls: TRANSPORT_CALLS, 'µs/round trip': transport }]
    printTable('The transport alone: empty calls from a worker over the SharedArrayBuffer channel (both ends poll, then sleep: Atomics.wait ↔ Atomics.waitAsync)',
      transportRows)
    console.log(`\nwrote ${writeResults('wasi', { rows, transport: transportRows })}`)
  } finally {
    rmSync(work, { recursive: true, force: true })
    rmSync(shm, { recursive: true, force: true })
  }
}

/** The binary under wasi-js with bindings.fs = fs and /bench → dir; its stdout's number. */
function runWasiJs(module: WebAssembly.Module, args: string[], fs: object, dir: string): number {
  let out = ''
  const wasi = new wasiJs.default({
    args, env: {}, preopens: { '/bench': dir },
    // Its node bindings' exit ends the whole process; a program's exit must end only the program.
    bindings: { ...wasiJsBindings, fs, exit: (code: number) => { if (code !== 0) throw new Error(`exit ${code}`) } },
    sendStdout: (chunk: Uint8Array) => { out += Buffer.from(chunk).toString() },
  })
  wasi.start(new WebAssembly.Instance(module, wasi.getImports(module)))
  return figure(out, 'wasi-js')
}

/**
 * µs per empty round trip over the channel: a worker of its own makes calls
 * (ChannelClient.call) that a handler here answers at once, no kernel behind it.
 */
async function transportRoundTrip(calls: number): Promise<number> {
  const channel = new SharedArrayBuffer(CHANNEL_BYTES)
  const server = new ChannelServer(channel, () => Promise.resolve({ errno: 0, length: 0 }))
  const here = import.meta.url
  // The worker runs TypeScript: tsx's loader is registered in it first, as src/wasi/run.ts does for a program's worker.
  // An eval'd worker is a script (no top-level await): the steps are chained.
  const client = `
    const { workerData, parentPort } = require('node:worker_threads')
    import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => {
      api.register()
      return import(${JSON.stringify(new URL('../src/wasi/channel.ts', here).href)})
    }).then(({ ChannelClient }) => {
      const c = new ChannelClient(workerData.channel)
      c.call(31)
      const start = performance.now()
      for (let i = 0; i < workerData.calls; i++) c.call(31)
      parentPort.postMessage((performance.now() - start) * 1000 / workerData.calls)
    })
  `
  const worker = new Worker(client, { eval: true, workerData: { channel, calls } })
  try {
    return await new Promise<number>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
  } finally {
    server.stop()
    await worker.terminate()
  }
}
