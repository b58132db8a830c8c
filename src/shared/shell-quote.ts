/** POSIX sh: nothing is special inside '…', so a quote is closed, escaped and reopened. */
export function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
