/**
 * Headless Chromium for the browser test and benchmark: Debian's `chromium` package driven
 * by playwright-core (never a downloaded browser), with a fresh profile folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = process.env.MODALFUSE_CHROMIUM ?? '/usr/bin/chromium';

/** In CI (CI set and not "false"/"0") the browser checks must run: a missing browser fails them. */
export function inCI(): boolean {
  const v = process.env.CI;
  return !!v && v !== 'false' && v !== '0';
}

/** Why the browser checks cannot run here, or null when they can. */
export function chromiumMissing(): string | null {
  if (fs.existsSync(CHROMIUM)) return null;
  return `${CHROMIUM} not found: install Debian's Chromium with \`apt-get update && apt-get install -y chromium\` (or set MODALFUSE_CHROMIUM to a Chromium binary)`;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console lines and page errors, for failure messages. */
  log: string[];
  close(): Promise<void>;
}

/**
 * Launches headless Chromium with a fresh user-data dir under `tmp`. Playwright refuses
 * `--user-data-dir` in `args` (it owns that flag), so the profile goes through
 * `launchPersistentContext(userDataDir, ...)`.
 */
export async function launchChromium(tmp: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(tmp ?? os.tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1100, height: 900 },
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const log: string[] = [];
  page.on('console', (m) => log.push(`[console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  return {
    context,
    page,
    log,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
