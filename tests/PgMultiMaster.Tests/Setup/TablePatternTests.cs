using PgMultiMaster.Setup;

namespace PgMultiMaster.Tests.Setup;

public sealed class TablePatternTests
{
    [Theory]
    [InlineData("public.*", "public", "accounts", true)]
    [InlineData("public.*", "sales", "accounts", false)]
    [InlineData("*.accounts", "sales", "accounts", true)]
    [InlineData("public.acc*", "public", "accounts", true)]
    [InlineData("public.acc*", "public", "Accounts", false)]
    [InlineData("public.\"Order Items\"", "public", "Order Items", true)]
    [InlineData("public.Order Items", "public", "Order Items", true)]
    [InlineData("\"Sales Dept\".*", "Sales Dept", "x", true)]
    [InlineData("public.a.b", "public", "a.b", true)]
    [InlineData("public.t_1", "public", "tx1", false)]
    public void Matches_names_exactly_with_star_as_wildcard(string pattern, string schema, string table, bool expected) =>
        Assert.Equal(expected, new TablePattern(pattern).Matches(schema, table));

    [Fact]
    public void Regex_characters_in_names_are_literal() =>
        Assert.False(new TablePattern("public.a+b").Matches("public", "aab"));
}
