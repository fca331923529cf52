/**
 * The name policy (lib/unit/names.ts unmanageableReason, lib/unit/unit.ts checkManageableUnit): names that belong to
 * fleet, systemd or D-Bus, and types an agent cannot own, are refused; ordinary names pass. Table-driven.
 */
import t from 'tap';
import {
  ReservedUnitNameError, UnitNameError, UNMANAGEABLE_UNIT_TYPES, checkManageableUnit, checkManageableUnitName,
  parseUnitFile, unmanageableReason,
} from '../../lib/unit/index.js';
import { errorMessage } from '../../lib/errors.js';

const refused: Array<[string, RegExp]> = [
  ['fleet.service', /fleet's own unit/],
  ['fleet.socket', /fleet's own unit/],
  ['fleetd.service', /fleet's own unit/],
  ['systemd-journald.service', /belong to systemd/],
  ['systemd-journald.socket', /belong to systemd/],
  ['systemd-tmpfiles-clean.timer', /belong to systemd/],
  ['systemd-fsck@dev-sda1.service', /belong to systemd/],
  ['systemd.service', /belong to systemd/],
  ['dbus.service', /D-Bus/],
  ['dbus.socket', /D-Bus/],
  ['dbus-broker.service', /D-Bus/],
  ['dbus-org.freedesktop.login1.service', /D-Bus/],
  ['-.mount', /root of a path/],
  ['-.slice', /\.slice units/],
  ['-.service', /root of a path/],
  ['init.scope', /\.scope units/],
  ['foo.scope', /\.scope units/],
  ['system.slice', /\.slice units/],
  ['myapp.slice', /\.slice units/],
  ['dev-sda.device', /\.device units/],
  ['dev-sda2.swap', /\.swap units/],
  ['x.snapshot', /\.snapshot units/],
  ['x.busname', /\.busname units/],
  ['multi-user.target', /systemd\.special/],
  ['default.target', /systemd\.special/],
  ['network-online.target', /systemd\.special/],
  ['runlevel3.target', /systemd\.special/],
  ['getty@tty1.service', /systemd\.special/],
  ['getty@.service', /systemd\.special/],
  ['user@1000.service', /systemd\.special/],
  ['display-manager.service', /systemd\.special/],
  ['syslog.socket', /systemd\.special/],
  ['tmp.mount', /system directory/],
  ['var.mount', /system directory/],
  ['dev-hugepages.mount', /system directory/],
  ['proc-sys-fs-binfmt_misc.automount', /system directory/],
  ['sys-kernel-debug.mount', /system directory/],
  ['run-user-1000.mount', /system directory/],
];

const allowed = [
  'hello.service', 'web@1.service', 'web@.service', 'myapp.target', 'myapp.socket', 'myapp.timer', 'myapp.path',
  'mnt-data.mount', 'var-lib-data.mount', 'srv-www.automount', 'fleetish.service', 'my-fleet.service',
  'mysystemd.service', 'dbusy.service', 'Fleet.service', 'apt-daily.service', 'nginx.service', 'a-.service',
];

t.test('refused names, each with its reason', async (t) => {
  for (const [name, why] of refused) {
    t.match(unmanageableReason(name), why, name);
    try {
      checkManageableUnitName(name);
      t.fail(`${name} accepted`);
    } catch (err) {
      t.ok(err instanceof ReservedUnitNameError, `${name}: ReservedUnitNameError`);
      t.ok(err instanceof UnitNameError, `${name}: a UnitNameError (the API answers 400)`);
      t.match(errorMessage(err), new RegExp(`^unit name "${name.replace(/[.@]/g, '\\$&')}" is reserved: `), name);
      t.equal((err as UnitNameError).rule, 'reserved');
    }
  }
});

t.test('ordinary names pass', async (t) => {
  for (const name of allowed) {
    t.equal(unmanageableReason(name), undefined, name);
    t.doesNotThrow(() => checkManageableUnitName(name), name);
  }
});

t.test('every unmanageable type is refused whatever the name', async (t) => {
  t.same(Object.keys(UNMANAGEABLE_UNIT_TYPES).sort(), ['busname', 'device', 'scope', 'slice', 'snapshot', 'swap']);
  for (const type of Object.keys(UNMANAGEABLE_UNIT_TYPES)) t.match(unmanageableReason(`harmless.${type}`), `.${type} units`);
});

t.test('invalid names are still UnitNameErrors of their own rule', async (t) => {
  t.throws(() => checkManageableUnitName('a/b.service'), { name: 'UnitNameError', message: /"\/"/ });
});

t.test('[Install] Alias= and Also= naming a reserved unit are refused', async (t) => {
  const file = (install: string) => parseUnitFile(`[Service]\nExecStart=/bin/true\n[Install]\n${install}\n`, 'x');
  const cases: Array<[string, RegExp | undefined]> = [
    ['Alias=dbus.service', /\[Install\] Alias=dbus\.service names a unit fleet must not manage: .*D-Bus/],
    ['Alias=other.service fleet.service', /Alias=fleet\.service/],
    ['Also=systemd-journald.service', /\[Install\] Also=systemd-journald\.service/],
    ['Alias=multi-user.target', /Alias=multi-user\.target/],
    ['Alias=../x.service', /Alias=\.\.\/x\.service .*"\/"/],
    ['Alias=systemd-%p.service', /Alias=systemd-innocent\.service/],
    ['Alias=web.service', undefined],
    ['WantedBy=multi-user.target', undefined],
    ['Also=helper.socket', undefined],
  ];
  for (const [install, want] of cases) {
    if (want === undefined) {
      t.doesNotThrow(() => checkManageableUnit('innocent.service', file(install)), install);
    } else {
      t.throws(() => checkManageableUnit('innocent.service', file(install)), { name: 'ReservedUnitNameError', message: want }, install);
    }
  }
});
