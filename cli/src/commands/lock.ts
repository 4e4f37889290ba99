import { ATTRIBUTES, type Attribute, type Attributes } from 'georeg/nodes';
import { apiOptions, API_HELP } from '../connect.js';
import { parseOptions, type Command } from '../command.js';
import { describeLocks, flagOf } from '../locks.js';
import { askRegistry, attributesOf, TARGET, targetOf } from './show.js';

const USAGE = `Usage: georeg lock ${TARGET} [--write] [--delete] [--read] [--list] [--json]
       georeg unlock ${TARGET} [--write] [--delete] [--read] [--list] [--json]

lock refuses, in every region, what its flags name of a repository, a tag or a manifest:
  --write   pushes (to the tag, of the manifest, into the repository)
  --delete  deletes (also of the manifest or the repository that holds it)
  --read    pulls
  --list    being listed (tag lists, the catalog, ACR's listings)
unlock allows them again. Without a flag, lock locks writes and deletes (an image kept as it is, as
\`az acr repository update --write-enabled false --delete-enabled false\` does) and unlock lifts
all four. They are ACR's changeable attributes (writeEnabled, deleteEnabled, readEnabled,
listEnabled): a lock is a record of its own, replicated to every region, where the newest change
wins; it outlives its target (a tag deleted and pushed again keeps its lock). A request a lock
refuses gets 423 naming the lock.
Prints the target's locks afterwards (\`georeg show\` shows them too); --json prints the
registry's answer (the target's properties).

A node with authentication on wants credentials granted metadata_write (the admin role, or a
token scope with it): georeg login (or GEOREG_USERNAME and GEOREG_PASSWORD).
${API_HELP}
`;

const flags = {
  write: { type: 'boolean' },
  delete: { type: 'boolean' },
  read: { type: 'boolean' },
  list: { type: 'boolean' },
} as const;

/** `lock` (attributes set false) or `unlock` (true): those the flags name, else `unnamed`. */
function attributeCommand(name: string, enabled: boolean, unnamed: readonly Attribute[], summary: string): Command {
  return {
    name,
    summary,
    async run(argv) {
      const { values, positionals } = parseOptions(argv, {
        ...flags,
        ...apiOptions,
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      });
      if (values.help) {
        process.stdout.write(USAGE);
        return 0;
      }
      const ref = targetOf(positionals, USAGE);
      const named = ATTRIBUTES.filter((a) => values[flagOf(a) as keyof typeof flags]);
      const change: Partial<Attributes> = Object.fromEntries((named.length ? named : unnamed).map((a) => [a, enabled]));
      const props = await askRegistry(ref, values, (client) => client.updateAttributes(ref, change));
      process.stdout.write(
        values.json ? JSON.stringify(props, null, 2) + '\n' : `${positionals[0] as string}: ${describeLocks(attributesOf(props))}\n`,
      );
      return 0;
    },
  };
}

export const lockCommand = attributeCommand(
  'lock',
  false,
  ['writeEnabled', 'deleteEnabled'],
  'lock a repository, tag or manifest against pushes and deletes (or --read, --list), in every region',
);

export const unlockCommand = attributeCommand(
  'unlock',
  true,
  ATTRIBUTES,
  'lift the locks of a repository, tag or manifest (all, or those named)',
);
