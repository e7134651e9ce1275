using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>Memory bounded in bytes: huge rows replicate without the workers growing past the chart's memory limit.</summary>
[Collection(ServersCollection.Name)]
public sealed class LargeRowTests(ServersFixture servers, ITestOutputHelper output)
{
    private const long ChartMemoryLimit = 512L << 20; // charts/pgmultimaster/values.yaml, resources.limits.memory

    [Fact]
    public async Task Fifty_rows_of_20_MB_replicate_while_both_workers_stay_inside_the_charts_memory_limit()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, """
            CREATE TABLE public.big (id int PRIMARY KEY, t text, b bytea, j jsonb);
            -- Stored as they are: the WAL, and the stream, carry every byte.
            ALTER TABLE public.big ALTER COLUMN t SET STORAGE EXTERNAL, ALTER COLUMN b SET STORAGE EXTERNAL, ALTER COLUMN j SET STORAGE EXTERNAL;
            """, nodes: 2);
        // As in the chart's pods: .NET takes 75 % of a container's memory limit as its heap's hard limit.
        mesh.WorkerEnvironment["DOTNET_GCHeapHardLimit"] = $"0x{ChartMemoryLimit * 3 / 4:X}";
        var workers = mesh.NodeNames.ToDictionary(n => n, n => mesh.StartWorkerProcess(n));
        await mesh.WaitForCatchUpAsync();

        // One row per transaction, as the report that found the worker at 2.26 GB; text, bytea (hex: 40 MB of text on the
        // wire) and jsonb take turns.
        for (var i = 1; i <= 50; i++)
            await mesh.ExecAsync("east", (i % 3) switch
            {
                0 => $"INSERT INTO big (id, t) VALUES ({i}, repeat(md5('{i}'), 20 * 1024 * 1024 / 32))",
                1 => $"INSERT INTO big (id, b) VALUES ({i}, decode(repeat(md5('{i}'), 10 * 1024 * 1024 / 32), 'hex'))",
                _ => $"INSERT INTO big (id, j) VALUES ({i}, jsonb_build_object('v', repeat(md5('{i}'), 20 * 1024 * 1024 / 32)))",
            });
        await mesh.AssertConvergedAsync(TimeSpan.FromMinutes(5));

        Assert.Equal(50L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM big"));
        foreach (var (node, worker) in workers)
        {
            var peak = worker.PeakResidentBytes();
            output.WriteLine($"worker beside {node}: peak RSS {peak >> 20} MB");
            Assert.True(peak < ChartMemoryLimit, $"the worker beside {node} peaked at {peak >> 20} MB");
        }
    }
}
