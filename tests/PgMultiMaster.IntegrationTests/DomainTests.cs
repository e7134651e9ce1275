using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// Columns of domain types. A domain's CHECK runs when a value is written, as PostgreSQL's own apply does it; the old
/// values a change is matched by are compared by the base type, so a CHECK that depends on the table (or on anything
/// but the value) cannot fail a DELETE or an UPDATE of a row that is there.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class DomainTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Schema = """
        -- From a type catalogue: a CHECK that reads the table (true for a new maximum only), created before the table.
        SET check_function_bodies = off;
        CREATE FUNCTION public.monot_incr(int) RETURNS bool LANGUAGE sql AS 'SELECT $1 > coalesce(max(a), 0) FROM public.tst_dom_constr';
        CREATE DOMAIN public.monot_int AS int CHECK (public.monot_incr(VALUE));
        CREATE TABLE public.tst_dom_constr (a public.monot_int);
        ALTER TABLE public.tst_dom_constr REPLICA IDENTITY FULL;

        -- A domain over every kind of base type, and an array of a domain.
        CREATE TYPE public.pair AS (x int, y text);
        CREATE DOMAIN public.d_text AS text CHECK (VALUE <> '');
        CREATE DOMAIN public.d_num AS numeric(10, 2) CHECK (VALUE >= 0);
        CREATE DOMAIN public.d_arr AS int[] CHECK (cardinality(VALUE) < 5);
        CREATE DOMAIN public.d_pair AS public.pair CHECK ((VALUE).x >= 0);
        CREATE DOMAIN public.d_range AS int4range CHECK (NOT isempty(VALUE));
        CREATE DOMAIN public.d_json AS jsonb CHECK (VALUE ? 'k');
        CREATE DOMAIN public.d_deep AS public.d_text CHECK (length(VALUE) < 20);
        CREATE TABLE public.dom_all (
            id public.d_text PRIMARY KEY, n public.d_num, arr public.d_arr, p public.d_pair, r public.d_range,
            j public.d_json, deep public.d_deep, tags public.d_text[]);
        ALTER TABLE public.dom_all REPLICA IDENTITY FULL;
        CREATE TABLE public.dom_key (id public.d_deep PRIMARY KEY, v int);
        """;

    [Fact]
    public async Task Rows_with_domains_over_every_kind_of_base_type_replicate_inserts_updates_and_deletes()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", """
            INSERT INTO tst_dom_constr VALUES (1), (2), (3);
            INSERT INTO dom_all VALUES
              ('a', 1.5, '{1,2}', ROW(1, 'one'), '[1,5)', '{"k": 1}', 'deep a', '{x,y}'),
              ('b', 0, '{}', ROW(0, NULL), '[2,3]', '{"k": null}', 'deep b', NULL),
              ('c', NULL, NULL, NULL, NULL, NULL, NULL, '{}');
            INSERT INTO dom_key VALUES ('k1', 1), ('k2', 2);
            """);
        await mesh.AssertConvergedAsync();

        await mesh.ExecAsync("east", """
            DELETE FROM tst_dom_constr WHERE a = 2;
            UPDATE tst_dom_constr SET a = 10 WHERE a = 3;
            UPDATE dom_all SET n = n + 1, arr = arr || 3, p = ROW(2, 'two'), tags = tags || 'z'::public.d_text WHERE id = 'a';
            UPDATE dom_all SET r = '[7,8)', j = '{"k": 2}' WHERE id = 'b';
            DELETE FROM dom_all WHERE id = 'c';
            UPDATE dom_key SET v = 20 WHERE id = 'k2';
            UPDATE dom_key SET id = 'k3' WHERE id = 'k1';
            DELETE FROM dom_key WHERE id = 'k2';
            """);
        await mesh.AssertConvergedAsync();

        Assert.Equal(["1", "10"], await mesh.RowsAsync("west", "SELECT a FROM tst_dom_constr ORDER BY a"));
        Assert.Equal(["k3 | 1"], await mesh.RowsAsync("west", "SELECT id, v FROM dom_key"));
        const string all = "SELECT t::text FROM dom_all t ORDER BY id";
        Assert.Equal(await mesh.RowsAsync("east", all), await mesh.RowsAsync("west", all));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter"));
    }
}
