// A one-layer OCI image archive of a static busybox, written by hand (tar + sha256): no registry,
// no umoci or skopeo. `ctr images import` reads the name from io.containerd.image.name.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

// OCI names Node's x64 amd64.
const ARCH = process.arch === 'x64' ? 'amd64' : process.arch;
const APPLETS = ['sh', 'sleep', 'ping', 'ip', 'cat', 'ls'];

const blob = (layout: string, content: Buffer | string, mediaType: string) => {
  const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
  writeFileSync(join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), content);
  return { mediaType, digest, size: Buffer.byteLength(content) };
};

export const buildBusyboxImage = async (dir: string, busybox: string, name: string): Promise<string> => {
  const rootfs = join(dir, 'rootfs');
  const layout = join(dir, 'layout');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  copyFileSync(busybox, join(rootfs, 'bin', 'busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', applet));
  const layerTar = join(dir, 'layer.tar');
  await execa('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', layerTar, '.']);
  const layerBytes = readFileSync(layerTar);
  const layer = blob(layout, layerBytes, 'application/vnd.oci.image.layer.v1.tar');
  const config = blob(
    layout,
    JSON.stringify({
      architecture: ARCH,
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [layer.digest] }, // uncompressed: the digest is the diff id
    }),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = blob(
    layout,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config,
      layers: [layer],
    }),
    'application/vnd.oci.image.manifest.v1+json',
  );
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          ...manifest,
          platform: { architecture: ARCH, os: 'linux' },
          annotations: {
            'io.containerd.image.name': name,
            'org.opencontainers.image.ref.name': name.split(':').at(-1),
          },
        },
      ],
    }),
  );
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const archive = join(dir, 'image.tar');
  await execa('tar', ['-C', layout, '-cf', archive, '.']);
  return archive;
};
