/** Kernel gap fills for the wasm backend (placeholder; filled in by the kernel work). */
export function registerFills(): void {}
