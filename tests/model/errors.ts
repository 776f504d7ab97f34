// The error lines the API logs (a 500 tells the client nothing; its log line says why), kept so a model
// failure can name the cause. LOG_LEVEL=error in the model test; MODEL_DEBUG=1 also prints them.

export const errorLog: string[] = []
let capturing = false

export function captureErrors(): void {
  if (capturing) return
  capturing = true
  const write = process.stderr.write.bind(process.stderr) as (...a: unknown[]) => boolean
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = String(chunk)
    if (text.includes('"level":"error"')) {
      errorLog.push(text.trim())
      if (errorLog.length > 500) errorLog.splice(0, 250)
      if (!process.env.MODEL_DEBUG) return true
    }
    return write(chunk, ...rest)
  }) as typeof process.stderr.write
}
