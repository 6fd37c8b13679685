"""Mutants of our modules for the tests of the self-check: one known bug each, built from the code's structure.

A mutant is an edit of one file's source, `edit(source) -> source`, of two kinds:

- `rewritten(scope, rewrite)`: the file parsed, every node inside the function, method or class `scope`
  ("name", "Class.method"; None: the whole module) passed to `rewrite`, which returns it unchanged or its
  replacement; the module printed back with `ast.unparse`. The nodes are found by their kind and by public names
  (attributes, called functions and methods), never by exact source lines or local variable names, so rewording a
  comment or renaming a local does not break a mutant;
- `appended(code)`: code added at the end of the file, e.g. a method of a class wrapped or replaced.

Each mutant must change something: an edit that finds nothing to change raises, naming the scope to update.
"""
import ast
import textwrap


def rewritten(scope, rewrite):
    """The edit that applies `rewrite` (ast node -> node) to every node inside `scope` of the file."""
    def edit(source):
        tree = ast.parse(source)
        target = _find(tree, scope)
        changes = _Rewriter(rewrite)
        if isinstance(target, ast.Module):
            changes.visit(target)
        else:
            target.body = [changes.visit(statement) for statement in target.body]
        assert changes.count, f"no node of {scope or 'the module'} matches the mutant: update the mutant"
        return ast.unparse(ast.fix_missing_locations(tree))
    return edit


def appended(code):
    """The edit that appends `code` (dedented) to the file."""
    def edit(source):
        return source + "\n\n" + textwrap.dedent(code)
    return edit


def chained(*edits):
    """The edit that applies `edits` one after another."""
    def edit(source):
        for each in edits:
            source = each(source)
        return source
    return edit


def added_becomes_assigned(target=None):
    """A rewrite: `target += value` becomes `target[...] = value` (the sum replaced by its last term, in place);
    `target` (source text, e.g. "self.W.grad") None: every `+=` of the scope."""
    def rewrite(node):
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and \
                target in (None, ast.unparse(node.target)):
            whole = ast.Subscript(value=_loaded(node.target), slice=ast.Constant(Ellipsis), ctx=ast.Store())
            return ast.Assign(targets=[whole], value=node.value)
        return node
    return rewrite


def call_renamed(old, new):
    """A rewrite: every call of a method or attribute function named `old` (`x.old(...)`, `np.old(...)`) calls
    `new` instead."""
    def rewrite(node):
        if is_call(node, old):
            node.func.attr = new
        return node
    return rewrite


def dropped(match):
    """A rewrite: every statement for which `match(statement)` is true becomes `pass`."""
    def rewrite(node):
        return ast.Pass() if isinstance(node, ast.stmt) and match(node) else node
    return rewrite


def replaced(match, replacement):
    """A rewrite: every node for which `match(node)` is true becomes `replacement(node)`."""
    def rewrite(node):
        return replacement(node) if match(node) else node
    return rewrite


def is_call(node, name):
    """Whether `node` calls a function or method named `name` (`name(...)`, `x.name(...)`)."""
    return isinstance(node, ast.Call) and name in (getattr(node.func, "attr", None), getattr(node.func, "id", None))


def expression(text):
    """The expression `text` as an ast node."""
    return ast.parse(text, mode="eval").body


class _Rewriter(ast.NodeTransformer):
    """Applies a rewrite to every node, children first, counting the nodes it changed."""

    def __init__(self, rewrite):
        self.rewrite = rewrite
        self.count = 0

    def generic_visit(self, node):
        node = super().generic_visit(node)
        before = ast.dump(node)
        new = self.rewrite(node)
        self.count += new is not node or ast.dump(new) != before
        return new


def _find(tree, scope):
    """The function, method or class named `scope` ("name" or "Class.method") in `tree`; `tree` for None."""
    if scope is None:
        return tree
    node = tree
    for name in scope.split("."):
        found = [child for child in node.body if isinstance(child, (ast.FunctionDef, ast.ClassDef))
                 and child.name == name]
        assert found, f"no {scope} in the file: update the mutant"
        node = found[0]
    return node


def _loaded(node):
    """A copy of the assignment target `node` for reading."""
    return ast.parse(ast.unparse(node), mode="eval").body
