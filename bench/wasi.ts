// SPDX-License-Identifier: MIT
/**
 * wasi.ts - WASI programs on uklkl beside node:wasi: one C program (built here
 * with clang and Debian's wasi-libc) making N calls of one kind, timed inside
 * the program with clock_gettime so that start-up is left out. Kinds:
 *   yield  sched_yield: the transport's round trip plus the cheapest syscall
 *   clock  clock_gettime: the same with a result to carry back
 *   files  open + write 16 B + close + stat + unlink of a small file: 5 calls a round
 * node:wasi runs the same binary on a directory of /dev/shm (host tmpfs); uklkl
 * on the kernel's root filesystem (in memory too).
 */
import { execFileSync } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { WASI } from 'node:wasi'
import { startKernel } from '../src/index.js'
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
    write(fd, "0123456789abcdef", 16);
    close(fd);
    stat("/bench/f", &st);
    unlink("/bench/f");
  }
  printf("%f\\n", (now() - start) / n);
  return 0;
}
`

const RUNS: Record<string, number> = { yield: 20_000, clock: 20_000, files: 2_000 }
const CALLS_PER_OP: Record<string, number> = { yield: 1, clock: 1, files: 5 }

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
    const rows: Row[] = []
    for (const [kind, n] of Object.entries(RUNS)) {
      const args = ['ops', kind, String(n)]
      let out = ''
      await k.runWasi(module, { args, preopens: { '/bench': '/bench' }, stdout: (c) => { out += Buffer.from(c).toString() } })
      const uklkl = Number(out)
      const outFile = path.join(work, 'out')
      const fd = openSync(outFile, 'w')
      const wasi = new WASI({ version: 'preview1', args, preopens: { '/bench': shm }, stdout: fd, returnOnExit: true })
      wasi.start(new WebAssembly.Instance(module, wasi.getImportObject() as WebAssembly.Imports))
      closeSync(fd)
      const node = Number(readFileSync(outFile, 'utf8'))
      rows.push({
        operation: kind, calls: n, 'uklkl µs/op': uklkl, 'node:wasi µs/op': node, 'uklkl / node': uklkl / node,
        'uklkl µs/WASI call': uklkl / (CALLS_PER_OP[kind] ?? 1),
      })
    }
    await k.halt()
    printTable('WASI calls from a wasm32-wasi C program: uklkl (worker + SharedArrayBuffer → kernel) beside node:wasi (/dev/shm)', rows)
    console.log(`\nwrote ${writeResults('wasi', { rows })}`)
  } finally {
    rmSync(work, { recursive: true, force: true })
    rmSync(shm, { recursive: true, force: true })
  }
}
