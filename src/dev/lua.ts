import type { Logger } from '../log.ts';
import { aptInstall } from './apt.ts';

/** Where Debian's `lua5.1` package puts the interpreter. */
export const LUA_PATH = '/usr/bin/lua5.1';

/**
 * The path of a Lua 5.1 interpreter, installing Debian's `lua5.1` package when it is missing.
 * 5.1 because Argo CD runs health checks in gopher-lua, which implements Lua 5.1: a script that
 * leans on 5.2+ (goto, integer division, `_ENV`) would pass under a newer lua and fail in Argo CD.
 */
export function ensureLua(log: Logger): Promise<string> {
  return aptInstall(['lua5.1'], LUA_PATH, log);
}
