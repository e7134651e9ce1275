using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// Transactions a target cannot apply never stop a link and are never retried forever: a failure caused by what is
/// applied sends the transaction again change by change (what fails is parked), and one that cannot commit even so is
/// parked whole. The changes after it apply.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class UnappliableTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task An_error_raised_by_a_target_trigger_parks_the_change_and_the_rest_of_the_transaction_applies()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY, v text);", nodes: 2);
        // Only west has it, and it fires for applied rows too. XX000 is no data error class, and used to be retried forever.
        await mesh.ExecAsync("west", """
            CREATE FUNCTION public.boom() RETURNS trigger LANGUAGE plpgsql AS
              $$ BEGIN IF NEW.v = 'boom' THEN RAISE EXCEPTION 'no booms here' USING ERRCODE = 'XX000'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER boom BEFORE INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.boom();
            ALTER TABLE public.t ENABLE ALWAYS TRIGGER boom;
            """);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (1, 'ok'), (2, 'boom'), (3, 'ok')");
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (4, 'after')");
        await mesh.WaitForCatchUpAsync();

        Assert.Equal(["1", "3", "4"], await mesh.RowsAsync("west", "SELECT id FROM t ORDER BY id"));
        Assert.Equal(["insert | XX000: no booms here | 2"], await mesh.RowsAsync("west", "SELECT operation, reason, new_row->>'id' FROM pgmm.dead_letter"));
    }

    [Fact]
    public async Task A_transaction_that_cannot_commit_even_change_by_change_is_parked_whole_and_the_stream_goes_on()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY, code int);", nodes: 2);
        // Checked at COMMIT, outside any change: no savepoint of the change-by-change replay can catch it.
        await AddOneSevenAsync(mesh);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (1, 7), (2, 7)");
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (3, 8)");
        await mesh.WaitForCatchUpAsync();

        Assert.Equal(["3"], await mesh.RowsAsync("west", "SELECT id FROM t ORDER BY id"));
        var parked = await mesh.RowsAsync("west", "SELECT operation || ' ' || (new_row->>'id') || ': ' || reason FROM pgmm.dead_letter ORDER BY id");
        Assert.Equal(2, parked.Count);
        Assert.All(parked, p => Assert.Contains("23514: the transaction could not be applied, even change by change: two sevens", p));
        Assert.StartsWith("insert 1: ", parked[0]);
        Assert.StartsWith("insert 2: ", parked[1]);
    }

    [Fact]
    public async Task A_single_row_transaction_failing_a_check_deferred_to_commit_is_parked_never_skipped()
    {
        // On PostgreSQL 16+ a transaction that fails after the origin's progress is set still moves the progress past
        // it as it aborts: checked at COMMIT, this row was skipped when the link resumed, silently.
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY, code int);", nodes: 2);
        await AddOneSevenAsync(mesh);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (1, 7)");
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (2, 7)");
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (3, 8)");
        await mesh.WaitForCatchUpAsync();

        Assert.Equal(["1", "3"], await mesh.RowsAsync("west", "SELECT id FROM t ORDER BY id"));
        var parked = await mesh.RowsAsync("west", "SELECT operation || ' ' || (new_row->>'id') || ': ' || reason FROM pgmm.dead_letter ORDER BY id");
        Assert.StartsWith("insert 2: 23514", Assert.Single(parked));
    }

    [Fact]
    public async Task A_target_table_with_a_deferrable_unique_constraint_takes_inserts_updates_and_conflicts()
    {
        // ON CONFLICT DO NOTHING refuses to run on such a table (55000); only the key can be its arbiter.
        await using var mesh = await Mesh.CreateAsync(servers, output, """
            CREATE TABLE public.t (id int PRIMARY KEY, pos int, CONSTRAINT one_pos UNIQUE (pos) DEFERRABLE INITIALLY DEFERRED);
            """, nodes: 2);
        await mesh.ExecAsync("west", "INSERT INTO t VALUES (1, 10)");
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (1, 11), (2, 20)");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();
        await mesh.ExecAsync("east", "UPDATE t SET pos = pos + 100");
        await mesh.AssertConvergedAsync();

        Assert.Equal(2, (await mesh.RowsAsync("west", "SELECT id FROM t")).Count);
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter"));
        Assert.Equal(1L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pgmm.conflict_log WHERE conflict_type = 'insert_exists'"));
    }

    /// <summary>On west, a check deferred to COMMIT: at most one row with code 7.</summary>
    private static Task AddOneSevenAsync(Mesh mesh) => mesh.ExecAsync("west", """
        CREATE FUNCTION public.one_seven() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN IF (SELECT count(*) FROM public.t WHERE code = 7) > 1 THEN RAISE EXCEPTION 'two sevens' USING ERRCODE = '23514'; END IF; RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER one_seven AFTER INSERT ON public.t DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.one_seven();
        ALTER TABLE public.t ENABLE ALWAYS TRIGGER one_seven;
        """);
}
