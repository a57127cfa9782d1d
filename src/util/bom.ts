/** Text without a leading UTF-8 byte-order mark (Excel and Notepad write one); JSON.parse refuses it. */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
