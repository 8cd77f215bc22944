// Types of scripts/apt.mjs for the TypeScript tests that use it.
export interface CommandNeed {
  cmd: string;
  pkg: string;
}
export function which(cmd: string): string | null;
export function ensureCommands(needs: CommandNeed[], log?: (line: string) => void): string | null;
export const REDIS_TOOLS: CommandNeed[];
export const QEMU: CommandNeed[];
export interface HostFacts {
  present: (cmd: string) => boolean;
  isRoot: boolean;
  hasApt: boolean;
}
export function hostFacts(): HostFacts;
export interface InstallPlan {
  missing: CommandNeed[];
  pkgs: string[];
  canInstall: boolean;
  command: string;
  message: string;
}
export function installPlan(needs: CommandNeed[], facts: HostFacts): InstallPlan | null;
