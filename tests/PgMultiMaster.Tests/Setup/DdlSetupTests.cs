using PgMultiMaster.Setup;

namespace PgMultiMaster.Tests.Setup;

public sealed class DdlSetupTests
{
    [Theory]
    [InlineData("public.*", "^public$", "^.*$")]
    [InlineData("sales.order_*", "^sales$", "^order\\_.*$")]
    [InlineData("public.\"Order Items\"", "^public$", "^Order\\ Items$")]
    public void Patterns_become_anchored_regular_expressions_with_every_other_character_literal(string pattern, string schema, string table) =>
        Assert.Equal((schema, table), DdlSetup.Regexes(pattern));
}
