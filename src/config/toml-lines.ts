// TOML parsers give positions only for syntax errors; validation errors need the line of a key too.
// This scan maps "section.key" to the line where it is written, for the common layouts
// ([section] headers followed by key = value lines, and dotted keys).

export function keyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let table = "";
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const header = /^\[\s*([A-Za-z0-9_.\-"' ]+?)\s*\]/.exec(line);
    if (header && !line.startsWith("[[")) {
      table = header[1]!.replace(/["'\s]/g, "");
      if (!lines.has(table)) lines.set(table, index + 1);
      return;
    }
    const assignment = /^([A-Za-z0-9_.\-"' ]+?)\s*=/.exec(line);
    if (assignment) {
      const key = assignment[1]!.replace(/["'\s]/g, "");
      const path = table ? `${table}.${key}` : key;
      if (!lines.has(path)) lines.set(path, index + 1);
    }
  });
  return lines;
}
