#!/usr/bin/env node
// SPDX-License-Identifier: MIT
/**
 * main.ts - the `uklkl` command.
 *
 *   uklkl boot                          run LKL's boot test sequence as TAP 13; exit 0 only if every case passed
 *   uklkl cp [-p] SRC... IMG:/DST       copy host files into a filesystem image (directories recursively)
 *   uklkl cp [-p] IMG:/SRC... DST       copy out of an image; -p keeps mode, owner and times
 *   uklkl ls [-l] [-a] IMG[:/PATH]...   list paths inside an image
 *   uklkl cat IMG:/FILE...              a file's bytes to stdout
 *   uklkl tar IMG[:/PATH] > out.tar     a tar stream of a tree inside an image
 *   uklkl run [--disk IMG[:/MNT]] [--dir PATH] [--tcplisten HOST:PORT] [--forward HOSTPORT[:PORT]] [--glue FILE] PROG.wasm [-- ARGS]
 *                                       run a WASI program as a kernel process; exit with its code (run.ts)
 *
 * The image tools take --fstype T, --partition N and --read-only, and exit as
 * coreutils do: 0, 1 when something failed, 2 for bad usage (image-tools.ts).
 * SIGINT stops them between two files and unmounts the image cleanly (exit 130);
 * a second SIGINT ends the process at once.
 */
import { bootTest } from './boot.js'
import { IMAGE_TOOLS, type ImageToolName, TOOL_USAGE, imageTool } from './image-tools.js'
import { RUN_USAGE, runCommand } from './run.js'

const USAGE = ['uklkl boot', ...IMAGE_TOOLS.map((name) => TOOL_USAGE[name]), RUN_USAGE]
  .map((line, i) => `${i === 0 ? 'usage:' : '      '} ${line}`).join('\n')

function isImageTool(name: string | undefined): name is ImageToolName {
  return (IMAGE_TOOLS as readonly (string | undefined)[]).includes(name)
}

async function main(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args
  if (command === 'boot') return (await bootTest()) ? 0 : 1
  if (command === 'run') return runCommand(rest, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr })
  if (isImageTool(command)) {
    const interrupt = new AbortController()
    const onSigint = (): void => {
      if (interrupt.signal.aborted) process.exit(130)
      interrupt.abort()
    }
    process.on('SIGINT', onSigint)
    try {
      return await imageTool(command, rest, { stdout: process.stdout, stderr: process.stderr, signal: interrupt.signal })
    } finally {
      process.off('SIGINT', onSigint)
    }
  }
  if (command === '--help' || command === '-h') {
    console.log(USAGE)
    return 0
  }
  console.error(command === undefined ? USAGE : `uklkl: unknown command ${JSON.stringify(command)}\n${USAGE}`)
  return 2
}

process.exitCode = await main(process.argv.slice(2))
