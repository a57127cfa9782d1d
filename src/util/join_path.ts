/** `path.join` for names in messages, without `node:path` (this is used in the browser bundle too). */
export function joinPath(dir: string, name: string): string {
  return dir === '' ? name : dir.endsWith('/') || dir.endsWith('\\') ? dir + name : `${dir}/${name}`;
}
