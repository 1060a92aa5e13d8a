import type { AptPackage } from './apt.ts';

/**
 * A Lua 5.1 interpreter, from Debian's `lua5.1` package. 5.1 because Argo CD runs health checks
 * in gopher-lua, which implements Lua 5.1: a script that leans on 5.2+ (goto, integer division,
 * `_ENV`) would pass under a newer lua and fail in Argo CD.
 */
export const LUA: AptPackage = { name: 'lua5.1', binary: '/usr/bin/lua5.1' };
