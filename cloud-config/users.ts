/** Creating users and setting passwords with useradd/usermod (with `--root` for a target root other than /). */
import type { UserConfig } from './types.js';

/** useradd arguments for a new user, as coreos-cloudinit builds them (no password means a locked one). */
export function useraddArgs(user: UserConfig, root: string): string[] {
  const args = ['useradd'];
  if (root !== '/') args.push('--root', root);
  args.push('--password', user.passwd ?? '*');
  if (user.gecos !== undefined) args.push('--comment', user.gecos);
  if (user.homedir !== undefined) args.push('--home-dir', user.homedir);
  args.push(user.noCreateHome ? '--no-create-home' : '--create-home');
  if (user.primaryGroup !== undefined) args.push('--gid', user.primaryGroup);
  if (user.groups.length > 0) args.push('--groups', user.groups.join(','));
  if (user.noUserGroup) args.push('--no-user-group');
  if (user.system) args.push('--system');
  if (user.noLogInit) args.push('--no-log-init');
  if (user.shell !== undefined) args.push('--shell', user.shell);
  args.push(user.name);
  return args;
}

export function setPasswordArgs(name: string, hash: string, root: string): string[] {
  return ['usermod', ...(root !== '/' ? ['--root', root] : []), '--password', hash, name];
}
