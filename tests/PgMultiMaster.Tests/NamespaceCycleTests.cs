using PgMultiMaster.Configuration;
using NetArchTest.Rules;
using PgMultiMaster.Replication;

namespace PgMultiMaster.Tests;

/// <summary>
/// The namespaces of PgMultiMaster.Core (one per folder) may depend on each other only one way: a cycle means two
/// pipeline stages can no longer be read, tested or changed apart. The dependencies are read from the compiled IL,
/// so a type used only inside a method body (or through <c>var</c>, with no using directive) counts too. Only what the
/// compiler leaves no trace of escapes it: an enum member or a const, which are copied in as their values.
/// </summary>
public class NamespaceCycleTests
{
    [Fact]
    public void Core_namespaces_depend_on_each_other_without_cycles()
    {
        var uses = Dependencies();
        var cycles = new List<string>();
        foreach (var (from, tos) in uses)
            foreach (var to in tos.Keys)
                if (PathBetween(uses, to, from) is { } back)
                    cycles.Add($"{from} -> {string.Join(" -> ", back)} (first step through {tos[to]})");
        Assert.True(cycles.Count == 0, "Namespace cycles in PgMultiMaster.Core:\n" + string.Join("\n", cycles));
    }

    [Fact]
    public void The_dependency_reading_sees_known_dependencies()
    {
        // Guards the test above against passing because it reads nothing.
        var uses = Dependencies();
        Assert.Contains("PgMultiMaster.Apply", uses["PgMultiMaster.Replication"].Keys);
        Assert.Contains("PgMultiMaster.Decoding", uses["PgMultiMaster.Apply"].Keys);
    }

    /// <summary>Each namespace's dependencies on the others, with a type that has it.</summary>
    private static Dictionary<string, Dictionary<string, string>> Dependencies()
    {
        var assembly = typeof(LinkRunner).Assembly;
        var namespaces = assembly.GetTypes()
            .Select(t => t.Namespace)
            .Where(n => n is not null && n.StartsWith("PgMultiMaster.", StringComparison.Ordinal))
            .Select(n => string.Join('.', n!.Split('.').Take(2)))
            .Distinct().Order(StringComparer.Ordinal).ToList();
        var uses = new Dictionary<string, Dictionary<string, string>>();
        foreach (var from in namespaces)
        {
            uses[from] = [];
            foreach (var to in namespaces.Where(n => n != from))
            {
                var users = Types.InAssembly(assembly).That().ResideInNamespace(from).And().HaveDependencyOn(to).GetTypes().ToList();
                if (users.Count > 0) uses[from][to] = users[0].FullName!;
            }
        }
        return uses;
    }

    /// <summary>The namespaces from <paramref name="start"/> to <paramref name="goal"/> along dependencies, or null.</summary>
    private static List<string>? PathBetween(Dictionary<string, Dictionary<string, string>> uses, string start, string goal)
    {
        var cameFrom = new Dictionary<string, string> { [start] = start };
        var queue = new Queue<string>([start]);
        while (queue.Count > 0)
        {
            var at = queue.Dequeue();
            if (at == goal)
            {
                var path = new List<string> { at };
                while (path[0] != start) path.Insert(0, cameFrom[path[0]]);
                return path;
            }
            foreach (var next in uses[at].Keys.Where(n => !cameFrom.ContainsKey(n)))
            {
                cameFrom[next] = at;
                queue.Enqueue(next);
            }
        }
        return null;
    }
}
