// SPDX-License-Identifier: MIT
/**
 * operands.ts - the `IMG:/PATH` operands of the image tools.
 *
 * `IMG` is the host path of an image file and `/PATH` a path inside its
 * filesystem; `IMG:/PATH` splits at a `:/`. A host path may hold `:/` itself
 * (`dir:/x.img:/etc`), so the split is made at the first `:/` whose left side is
 * an existing host file (not a directory); when none is, at the first `:/`, so
 * that the error names the image the user most likely meant. Where a bare `IMG`
 * is allowed (ls, tar), an operand without `:/` is the image's root.
 *
 * When no `:/` splits off a host file but the whole operand exists on the host,
 * it is that host path (cp), or that image's root (ls, tar).
 *
 * Limits: a host path with `:/` that does not exist yet (cp's destination)
 * cannot be named.
 */
import { statSync } from 'node:fs'

export interface ImageOperand {
  /** The image file on the host. */
  image: string
  /** The path inside the image: absolute. */
  path: string
  /** The operand as it was given, for messages. */
  text: string
}

function isHostFile(hostPath: string): boolean {
  try {
    return !statSync(hostPath).isDirectory()
  } catch {
    return false
  }
}

function existsOnHost(hostPath: string): boolean {
  try {
    statSync(hostPath)
    return true
  } catch {
    return false
  }
}

/**
 * The operand as IMG and PATH, or null if it is a host path. bareImage: an
 * operand without `:/` names the image's root (ls, tar) rather than a host path (cp).
 */
export function imageOperand(text: string, bareImage: boolean): ImageOperand | null {
  const splits: number[] = []
  for (let at = text.indexOf(':/'); at > 0; at = text.indexOf(':/', at + 1)) splits.push(at)
  if (splits.length === 0) return bareImage && text !== '' ? { image: text, path: '/', text } : null
  const at = splits.find((i) => isHostFile(text.slice(0, i)))
  if (at === undefined && existsOnHost(text)) return bareImage ? { image: text, path: '/', text } : null
  const split = at ?? splits[0] ?? 0
  return { image: text.slice(0, split), path: text.slice(split + 1), text }
}

/** How a path inside an image is named in messages: `IMG:/path`. */
export function imageName(image: string, path: string): string {
  return `${image}:${path}`
}
