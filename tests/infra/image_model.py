"""The collector image without a Docker engine: the Dockerfile parsed, its file tree built from its COPY
instructions and the build context (.dockerignore honoured), and the owners and modes its RUN lines give.

What Docker would do is reproduced only as far as this Dockerfile needs (single stage, COPY from the context,
exec-form ENTRYPOINT); anything else raises ``Unsupported``, so a new kind of instruction makes the tests say
so instead of silently checking less.

Base image contents cannot be inspected offline, so the permission model assumes the least: every path the
Dockerfile does not create or change is a root-owned directory with mode 0755 (writable by root only).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ROOT_UID = 0


class Unsupported(AssertionError):
    """A Dockerfile feature this model does not reproduce."""


# --- parsing ------------------------------------------------------------------------------------------------
def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not pending and not line):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in joined]


def _exec_or_shell(args: str) -> list[str]:
    """An ENTRYPOINT/CMD: the exec (JSON) form as is, the shell form as Docker runs it."""
    if args.startswith("["):
        value = json.loads(args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
        return value
    return ["/bin/sh", "-c", args]


def _env_pairs(args: str) -> dict[str, str]:
    words = shlex.split(args)
    if words and "=" not in words[0]:  # legacy form: ENV NAME value with spaces
        return {words[0]: " ".join(words[1:])}
    pairs = {}
    for word in words:
        name, sep, value = word.partition("=")
        if not sep:
            raise Unsupported(f"ENV {args!r}")
        pairs[name] = value
    return pairs


@dataclass
class Copy:
    sources: list[str]
    dest: str  # absolute image path
    chown: str | None = None


@dataclass
class Node:
    uid: int
    mode: int  # permission bits incl. sticky
    is_dir: bool


@dataclass
class Image:
    """The image as the Dockerfile describes it."""

    base: str
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    copies: list[Copy] = field(default_factory=list)
    runs: list[tuple[int, str]] = field(default_factory=list)  # (instruction index, shell command)
    user: str = "root"
    user_index: int = -1  # instruction index of the last USER
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] | None = None
    steps: list[tuple[str, str]] = field(default_factory=list)

    def image_path(self, path: str) -> str:
        """``path`` as an absolute image path (relative paths are relative to the WORKDIR)."""
        return str(PurePosixPath(self.workdir, path))


def parse(path: Path = DOCKERFILE) -> Image:
    steps = instructions(path)
    froms = [args for kind, args in steps if kind == "FROM"]
    if len(froms) != 1:
        raise Unsupported(f"{len(froms)} FROM instructions (multi-stage builds are not modelled)")
    image = Image(base=froms[0], steps=steps)
    for index, (kind, args) in enumerate(steps):
        if kind == "ENV":
            image.env.update(_env_pairs(args))
        elif kind == "WORKDIR":
            image.workdir = image.image_path(args)
        elif kind in ("COPY", "ADD"):
            if kind == "ADD":
                raise Unsupported("ADD (URLs and archives) is not modelled; COPY is")
            words = json.loads(args) if args.startswith("[") else shlex.split(args)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            chown = None
            for flag in flags:
                name, _, value = flag[2:].partition("=")
                if name == "chown":
                    chown = value
                elif name != "link":
                    raise Unsupported(f"COPY --{name}")
            image.copies.append(Copy(sources=paths[:-1], dest=image.image_path(paths[-1]) + (
                "/" if paths[-1].endswith("/") else ""), chown=chown))
        elif kind == "RUN":
            image.runs.append((index, args))
        elif kind == "USER":
            image.user, image.user_index = args, index
        elif kind == "ENTRYPOINT":
            image.entrypoint = _exec_or_shell(args)
        elif kind == "CMD":
            image.cmd = _exec_or_shell(args)
        elif kind not in ("FROM", "LABEL", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "ARG", "SHELL", "VOLUME"):
            raise Unsupported(kind)
    return image


# --- the build context ----------------------------------------------------------------------------------------
def dockerignore_patterns(path: Path = DOCKERIGNORE) -> list[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore matching: ``**`` any number of directories, ``*`` / ``?`` within one segment."""
    out = ""
    i = 0
    pattern = os.path.normpath(pattern).strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def ignored(path: str, patterns: list[str] | None = None) -> bool:
    """True when the build context leaves ``path`` (relative to the context) out: the last pattern that
    matches the path or one of its parent directories decides (``!pattern`` puts it back)."""
    patterns = dockerignore_patterns() if patterns is None else patterns
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern[1:] if negated else pattern)
        if any(regex.match(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


# --- the file tree ----------------------------------------------------------------------------------------------
@dataclass
class Tree:
    """The image's files under ``root`` (image path ``/x`` is ``root / "x"``) and the permission model."""

    root: Path
    image: Image
    nodes: dict[str, Node]
    users: dict[str, int]  # user name -> uid, from the RUN lines

    def host(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def uid_of(self, user: str) -> int:
        name = user.split(":", 1)[0]
        if name.isdigit():
            return int(name)
        if name == "root":
            return ROOT_UID
        if name not in self.users:
            raise AssertionError(f"USER {name} is not created by any RUN line")
        return self.users[name]

    @property
    def runtime_uid(self) -> int:
        return self.uid_of(self.image.user)

    def node(self, image_path: str) -> Node:
        """The model's owner and mode of ``image_path``: what the Dockerfile made, else the base assumption."""
        path = str(PurePosixPath(image_path))
        return self.nodes.get(path, Node(uid=ROOT_UID, mode=0o755, is_dir=True))

    def can_create(self, image_path: str, uid: int) -> bool:
        """Whether ``uid`` can create ``image_path`` (and the directories up to it): it needs write and search
        permission on the nearest existing ancestor, which in this model is the nearest one the Dockerfile
        made, or the base image's root-owned 0755 directory."""
        path = PurePosixPath(image_path)
        for ancestor in [path, *path.parents]:
            key = str(ancestor)
            if key in self.nodes or ancestor == PurePosixPath("/"):
                node = self.node(key)
                if not node.is_dir:
                    return ancestor == path and allows(node, uid, 0o2)
                return allows(node, uid, 0o3)
        raise AssertionError("unreachable: / is an ancestor of every path")


def allows(node: Node, uid: int, bits: int) -> bool:
    """Whether ``uid`` has the permission ``bits`` (0o4 read, 0o2 write, 0o1 execute/search) on ``node``."""
    if uid == ROOT_UID:
        return True
    shift = 6 if node.uid == uid else 0  # group membership is not modelled: a user is owner or other
    return (node.mode >> shift) & bits == bits


def _mkdirs(nodes: dict[str, Node], path: PurePosixPath, uid: int = ROOT_UID) -> None:
    for ancestor in reversed([path, *path.parents]):
        nodes.setdefault(str(ancestor), Node(uid=uid, mode=0o755, is_dir=True))


def build_tree(root: Path, image: Image | None = None, context: Path = REPO) -> Tree:
    """Copy what the COPY instructions take from ``context`` (minus .dockerignore) into ``root`` and
    replay the RUN lines' effect on owners and modes."""
    image = image or parse()
    patterns = dockerignore_patterns(context / ".dockerignore")
    nodes: dict[str, Node] = {}
    users: dict[str, int] = {}
    workdirs = [image.image_path(args) for kind, args in image.steps if kind == "WORKDIR"]
    for workdir in workdirs:
        _mkdirs(nodes, PurePosixPath(workdir))
    for copy in image.copies:
        owner = ROOT_UID if copy.chown is None else int(copy.chown.split(":")[0])
        for source in copy.sources:
            matches = sorted(glob.glob(source, root_dir=context)) if glob.has_magic(source) else [source]
            matches = [m for m in matches if (context / m).exists() and not ignored(m, patterns)]
            if not matches:
                raise AssertionError(f"COPY {source}: not in the build context (absent or .dockerignore'd)")
            for match in matches:
                _copy_one(context, match, copy, root, nodes=nodes, owner=owner, patterns=patterns,
                          many=len(copy.sources) > 1)
    for _, command in image.runs:
        _replay_run(command, nodes, users)
    return Tree(root=root, image=image, nodes=nodes, users=users)


def _copy_one(context: Path, source: str, copy: Copy, root: Path, *, nodes: dict[str, Node], owner: int,
              patterns: list[str], many: bool) -> None:  # fmt: skip
    src = context / source
    if src.is_dir():
        dest = PurePosixPath(copy.dest)  # a directory's contents go into dest
        _mkdirs(nodes, dest, owner)
        for dirpath, dirnames, filenames in os.walk(src):
            rel_dir = Path(dirpath).relative_to(context)
            dirnames[:] = [d for d in dirnames if not ignored(str(rel_dir / d), patterns)]
            for name in [*dirnames, *filenames]:
                rel = rel_dir / name
                if ignored(str(rel), patterns):
                    continue
                image_path = dest / rel.relative_to(source)
                target = root / str(image_path).lstrip("/")
                mode = stat.S_IMODE((context / rel).stat().st_mode)
                if (context / rel).is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    nodes[str(image_path)] = Node(uid=owner, mode=mode, is_dir=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(context / rel, target)
                    nodes[str(image_path)] = Node(uid=owner, mode=mode, is_dir=False)
        (root / str(dest).lstrip("/")).mkdir(parents=True, exist_ok=True)
        return
    into_dir = copy.dest.endswith("/") or many
    image_path = PurePosixPath(copy.dest) / src.name if into_dir else PurePosixPath(copy.dest)
    _mkdirs(nodes, image_path.parent)
    target = root / str(image_path).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, target)
    nodes[str(image_path)] = Node(uid=owner, mode=stat.S_IMODE(src.stat().st_mode), is_dir=False)


def _replay_run(command: str, nodes: dict[str, Node], users: dict[str, int]) -> None:
    """The owner/mode effect of the commands of one RUN line: useradd, mkdir, chmod (octal), chown; every
    other command (pip install, ...) is taken to change no permission the run relies on."""
    for part in re.split(r"&&|;|\|\|", command):
        words = shlex.split(part)
        if not words:
            continue
        tool, args = words[0], words[1:]
        if tool == "useradd":
            _useradd(args, nodes, users)
        elif tool == "mkdir":
            for path in (a for a in args if not a.startswith("-")):
                _mkdirs(nodes, PurePosixPath(path))
        elif tool == "chmod":
            mode, *paths = [a for a in args if not a.startswith("-")]
            if not re.fullmatch(r"[0-7]{3,4}", mode):
                raise Unsupported(f"chmod {mode} (only octal modes are modelled)")
            for path in paths:
                node = nodes.get(str(PurePosixPath(path)), Node(uid=ROOT_UID, mode=0o755, is_dir=True))
                nodes[str(PurePosixPath(path))] = Node(uid=node.uid, mode=int(mode, 8), is_dir=node.is_dir)
        elif tool == "chown":
            owner, *paths = [a for a in args if not a.startswith("-")]
            name = owner.split(":")[0]
            uid = int(name) if name.isdigit() else users[name]
            for path in paths:
                node = nodes.get(str(PurePosixPath(path)), Node(uid=ROOT_UID, mode=0o755, is_dir=True))
                nodes[str(PurePosixPath(path))] = Node(uid=uid, mode=node.mode, is_dir=node.is_dir)


def _useradd(args: list[str], nodes: dict[str, Node], users: dict[str, int]) -> None:
    uid: int | None = None
    home: str | None = None
    create_home = False
    name = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--uid", "-u"):
            uid, i = int(args[i + 1]), i + 2
        elif arg in ("--home-dir", "-d"):
            home, i = args[i + 1], i + 2
        elif arg in ("--create-home", "-m"):
            create_home, i = True, i + 1
        elif arg in ("--shell", "-s", "--gid", "-g", "--comment", "-c", "--groups", "-G"):
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            name, i = arg, i + 1
    if name is None or uid is None:
        raise Unsupported(f"useradd {' '.join(args)} (name and --uid expected)")
    users[name] = uid
    if create_home:
        home_path = PurePosixPath(home or f"/home/{name}")
        _mkdirs(nodes, home_path.parent)
        nodes[str(home_path)] = Node(uid=uid, mode=0o700, is_dir=True)
