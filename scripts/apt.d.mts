// Types of scripts/apt.mjs for the TypeScript tests that use it.
export interface CommandNeed {
  cmd: string;
  pkg: string;
}
export function which(cmd: string): string | null;
export function ensureCommands(needs: CommandNeed[], log?: (line: string) => void): string | null;
