#!/usr/bin/env node
// SPDX-License-Identifier: MIT
/**
 * main.ts - the `uklkl` command.
 *
 *   uklkl boot    run LKL's boot test sequence as TAP 13; exit 0 only if every case passed
 */
import { bootTest } from './boot.js'

const USAGE = 'usage: uklkl boot'

async function main(args: readonly string[]): Promise<number> {
  switch (args[0]) {
    case 'boot':
      return (await bootTest()) ? 0 : 1
    default:
      console.error(USAGE)
      return 2
  }
}

process.exitCode = await main(process.argv.slice(2))
