using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

[Collection(ServersCollection.Name)]
public sealed class TypeRoundTripTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Schema = """
        CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
        CREATE DOMAIN public.posint AS int CHECK (VALUE > 0);
        CREATE TABLE public.types (
            id int PRIMARY KEY,
            i2 int2, i4 int4, i8 int8, num numeric, num_s numeric(10,3), f4 float4, f8 float8,
            t text, vc varchar(10), ch char(5), b bytea, bo bool,
            tstz timestamptz, ts timestamp, d date, tm time, iv interval,
            u uuid, j json, jb jsonb, ip inet, arr int[], tarr text[], e public.mood, dom public.posint, earr public.mood[]);
        """;

    [Fact]
    public async Task Every_supported_type_round_trips_exactly_including_edge_values_and_nulls()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", """
            INSERT INTO types VALUES
            (1, 1, 2, 3, 12345.6789, 1.5, 1.1, 0.1 + 0.2,
             'plain', 'short', 'ab', '\x0102', true,
             '2024-02-29 23:59:59.999999+05:30', '2024-01-01 00:00:00.000001', '2024-02-29', '13:14:15.123456', '1 day 02:03:04',
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2 ], "b":null}', '{"z": 1, "a": [true, null]}', '192.168.0.1/24',
             '{1,2,3}', '{"x","y"}', 'happy', 5, '{sad,happy}'),
            (2, -32768, -2147483648, -9223372036854775808, 'NaN', -0.001, '-Infinity', 'Infinity',
             E'quote '' double " back \\ tab \t newline \n unicode ü € 𝄞', '', 'x', '\x00ff00', false,
             'infinity', '-infinity', '0001-01-01 BC', '24:00:00', '-1 year 2 mons -3 days 04:05:06.789',
             '00000000-0000-0000-0000-000000000000', '[]', '{}', '::1/128',
             '{1,NULL,-3}', '{"a b","c\"d",NULL,""}', 'sad', 2147483647, '{}'),
            (3, 32767, 2147483647, 9223372036854775807, '-0.000000000000000000001', 9999999.999, 'NaN', 'NaN',
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
            (4, NULL, NULL, NULL, NULL, NULL, 3.4028235e38, 2.2250738585072014e-308,
             repeat('long ', 1000), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
            """);
        await mesh.ExecAsync("east", """
            UPDATE types SET f8 = 1e-300, iv = '3 hours', arr = arr || 4, jb = jb || '{"n": 1.50}', e = 'ok', t = NULL WHERE id = 1;
            UPDATE types SET t = 'was null' WHERE id = 3;
            DELETE FROM types WHERE id = 4;
            """);
        await mesh.AssertConvergedAsync();

        const string everyColumnAsText = "SELECT t::text FROM types t ORDER BY id";
        var east = await mesh.RowsAsync("east", everyColumnAsText);
        Assert.Equal(3, east.Count);
        Assert.Equal(east, await mesh.RowsAsync("west", everyColumnAsText));
        // Floats compared bit for bit, not just as printed.
        const string floatBits = "SELECT encode(float4send(f4), 'hex') || encode(float8send(f8), 'hex') FROM types ORDER BY id";
        Assert.Equal(await mesh.RowsAsync("east", floatBits), await mesh.RowsAsync("west", floatBits));
    }

    [Fact]
    public async Task Keys_of_a_type_whose_equality_is_not_in_pg_catalog_are_matched_by_that_equality()
    {
        // citext's = lives in public. pgmm's sessions look names up in pg_catalog only, where a bare = would take
        // text's (case-sensitive) and miss the row: the two inserts below would then be parked as unique violations.
        await using var mesh = await Mesh.CreateAsync(servers, output, """
            CREATE EXTENSION IF NOT EXISTS citext;
            CREATE TABLE public.users (email public.citext PRIMARY KEY, name text NOT NULL);
            """, nodes: 2);
        await mesh.ExecAsync("east", "INSERT INTO users VALUES ('Ann@example.com', 'from east')");
        await mesh.ExecAsync("west", "INSERT INTO users VALUES ('ann@EXAMPLE.com', 'from west')");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();
        await mesh.ExecAsync("east", "UPDATE users SET name = 'renamed' WHERE email = 'ANN@example.com'");
        await mesh.AssertConvergedAsync();

        foreach (var node in mesh.NodeNames)
        {
            Assert.Equal(["renamed"], await mesh.RowsAsync(node, "SELECT name FROM users"));
            Assert.Equal(0L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pgmm.dead_letter"));
            Assert.Equal(1L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pgmm.conflict_log WHERE conflict_type = 'insert_exists'"));
        }
    }
}
