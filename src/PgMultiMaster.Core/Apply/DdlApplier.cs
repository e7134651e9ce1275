using Microsoft.Extensions.Logging;
using Npgsql;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Failures;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Apply;

/// <summary>
/// Runs a schema change captured on the source (<see cref="DdlCommand"/>) inside the applied transaction on the target,
/// so it commits with that transaction's origin progress: the rows after it in the stream find the table as the source
/// had it. It runs as the role that ran it on the source when pgmm's role may be that role (a created table then has
/// the same owner), with the source's search_path, and marked as applied (<c>pgmm.ddl = 'applying'</c>) so that the
/// target records nothing of it again. A new table that matches the replicated tables joins the target's publication
/// and gets its tombstone triggers (<c>pgmm.ddl_adopt_new_tables</c>).
/// <para>
/// A command the target refuses never parks: when the object is already as the source left it (the same change made
/// on both nodes, a DROP of what is already gone) it is logged as already applied; otherwise the link stops, naming both
/// nodes, the command and what differs, rather than let the nodes' schemas diverge.
/// </para>
/// </summary>
internal sealed class DdlApplier(TargetTransaction tx, Link link, ILogger logger)
{
    public async Task ApplyAsync(DdlCommand ddl, CancellationToken ct)
    {
        var conn = tx.Connection;
        await using (var batch = new NpgsqlBatch(conn))
        {
            tx.AddBegin(batch);
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SAVEPOINT pgmm_ddl"));
            // The source's role when pgmm's role may SET ROLE to it, else pgmm's own (a member of the tables' owners) for a
            // statement the event trigger saw run. One recorded through pgmm.ddl_record, which its grantee may call with
            // any text, never runs with pgmm's rights instead: SET ROLE then fails (42501), and the link stops, naming it.
            var setup = new NpgsqlBatchCommand(
                "SELECT pg_catalog.set_config('pgmm.ddl', 'applying', true), pg_catalog.set_config('search_path', $1, true), " +
                "pg_catalog.set_config('role', CASE WHEN $3 THEN $2 WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $2) THEN 'none' " +
                "WHEN pg_catalog.pg_has_role($2, 'MEMBER') THEN $2 ELSE 'none' END, true)");
            setup.Parameters.Add(new NpgsqlParameter { Value = ddl.SearchPath });
            setup.Parameters.Add(new NpgsqlParameter { Value = ddl.Role });
            setup.Parameters.Add(new NpgsqlParameter { Value = ddl.Tag == "pgmm.replicate_ddl" });
            batch.BatchCommands.Add(setup);
            batch.BatchCommands.Add(new NpgsqlBatchCommand(ddl.TargetCommand));
            batch.BatchCommands.Add(new NpgsqlBatchCommand(
                "SELECT pg_catalog.set_config('role', 'none', true), pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true), " +
                "pg_catalog.set_config('pgmm.ddl', '', true)"));
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pgmm.ddl_adopt_new_tables()"));
            batch.BatchCommands.Add(new NpgsqlBatchCommand("RELEASE SAVEPOINT pgmm_ddl"));
            try
            {
                await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                tx.Begun = true;
                Log.DdlApplied(logger, link.ToString(), ddl.Command);
                return;
            }
            catch (PostgresException e) when (tx.IsOpen && FailureClassifier.Classify(e) != FailureKind.Transient)
            {
                tx.Begun = true;
                await tx.ExecAsync("ROLLBACK TO SAVEPOINT pgmm_ddl", ct).ConfigureAwait(false);
                await JudgeFailureAsync(ddl, e, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task JudgeFailureAsync(DdlCommand ddl, PostgresException e, CancellationToken ct)
    {
        string? differs = null;
        if (DdlCommand.IsAlreadySignal(e.SqlState))
        {
            if (ddl.AlreadyGone(e.SqlState))
            {
                Already(ddl, e);
                return;
            }
            if (ddl.Object is not null && ddl.Shape is not null)
            {
                await using var cmd = new NpgsqlCommand("SELECT pgmm.ddl_table_shape($1)::text", tx.Connection);
                cmd.Parameters.Add(new NpgsqlParameter { Value = ddl.Object });
                var here = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
                differs = DdlCommand.Difference(ddl.Shape, here, link.Source.Name, link.Target.Name);
                if (differs is null)
                {
                    Already(ddl, e);
                    return;
                }
            }
        }
        var source = link.Source.Name;
        var target = link.Target.Name;
        throw new LinkStopException(
            $"the schema change from node '{source}' cannot be applied on node '{target}': {ddl.Command.Trim()} failed there " +
            $"with {e.SqlState}: {e.MessageText}" + (differs is null ? "" : $" ({ddl.Object}: {differs})") +
            ". The link stops rather than let the two nodes' schemas differ; rows after this change wait on node " +
            $"'{source}'. Way out: make the schemas of '{source}' and '{target}' agree by hand (with SET pgmm.ddl = 'local' " +
            $"so that the fix is not replicated), then restart the worker of '{source}': it applies the change again, and " +
            "skips it if the object is then already as the source left it", inner: e);
    }

    private void Already(DdlCommand ddl, PostgresException e)
    {
        Log.DdlAlreadyApplied(logger, link.ToString(), ddl.Command, $"{e.SqlState}: {e.MessageText}");
    }
}
