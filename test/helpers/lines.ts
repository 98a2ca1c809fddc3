// Reads a child process's output line by line, so a test can wait for "it has reached this point"
// instead of sleeping and hoping.
export interface LineReader {
  lines: string[];
  /** Resolves with the first line (already seen or to come) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the stream ends. */
  done: Promise<void>;
}

export function readLines(stream: ReadableStream<Uint8Array>): LineReader {
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let ended = false;
  const done = (async () => {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of stream) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
      for (const wake of waiters.splice(0)) wake();
    }
    if (rest) lines.push(rest);
    ended = true;
    for (const wake of waiters.splice(0)) wake();
  })();
  return {
    lines,
    done,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} in:\n${lines.join("\n")}`)), timeoutMs);
        const check = () => {
          const line = lines.find((l) => pattern.test(l));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve(line);
          } else if (ended) {
            clearTimeout(timer);
            reject(new Error(`stream ended without a line matching ${pattern}:\n${lines.join("\n")}`));
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}
