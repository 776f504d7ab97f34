// A one-line progress bar on stderr (redrawn in place on a terminal, one line per step otherwise).

export type Progress = (done: number, total: number, label: string) => void

export function progressBar(title: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  const started = performance.now()
  let lastLabel = ''
  return (done, total, label) => {
    const share = total > 0 ? Math.min(1, done / total) : 1
    const width = 30
    const filled = Math.round(share * width)
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    const line = `${title} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}% ${label} (${seconds} s)`
    if (stream.isTTY) {
      stream.write(`\r${line}\u001b[K${share >= 1 ? '\n' : ''}`)
    } else if (label !== lastLabel || share >= 1) {
      stream.write(`${line}\n`)
    }
    lastLabel = label
  }
}
