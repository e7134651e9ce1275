using PgMultiMaster.Sql;

namespace PgMultiMaster.Tests.Sql;

public sealed class QuoteTests
{
    [Theory]
    [InlineData("plain", "\"plain\"")]
    [InlineData("Mixed Case", "\"Mixed Case\"")]
    [InlineData("a\"b", "\"a\"\"b\"")]
    public void Identifiers_are_always_quoted(string name, string quoted) => Assert.Equal(quoted, Quote.Ident(name));

    [Fact]
    public void Literals_double_single_quotes_and_refuse_nul()
    {
        Assert.Equal("'it''s'", Quote.Literal("it's"));
        Assert.Throws<ArgumentException>(() => Quote.Literal("a\0b"));
    }
}
