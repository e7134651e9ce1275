using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using PgMultiMaster.Configuration;

namespace PgMultiMaster.Tests.Configuration;

/// <summary>Every configuration example in the README and docs/conflicts.md binds, has only settings and passes validation, so the docs stay true.</summary>
public sealed partial class ReadmeExamplesTests
{
    [GeneratedRegex("```json\\s*\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex JsonBlock();

    public static TheoryData<string> Examples()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "README.md"))) dir = dir.Parent;
        var readme = File.ReadAllText(Path.Combine(dir!.FullName, "README.md")) + "\n" + File.ReadAllText(Path.Combine(dir.FullName, "docs", "conflicts.md"));
        var data = new TheoryData<string>();
        foreach (Match m in JsonBlock().Matches(readme))
            if (m.Groups[1].Value.Contains("\"Conflicts\"", StringComparison.Ordinal)) data.Add(m.Groups[1].Value.Trim());
        return data;
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Readme_conflict_examples_are_valid_configuration(string example)
    {
        // A fragment ("Conflicts": {...}) goes into a minimal cluster; a whole file is taken as it is.
        var json = example.StartsWith('{') ? example :
            "{ \"PgMultiMaster\": { \"Nodes\": [ { \"Name\": \"east\", \"ConnectionString\": \"Host=a\" }, { \"Name\": \"west\", \"ConnectionString\": \"Host=b\" }, " +
            "{ \"Name\": \"north\", \"ConnectionString\": \"Host=c\" } ], \"Tables\": [ \"public.*\" ], " + example + " } }";
        var config = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var options = config.GetSection(PgMultiMasterOptions.SectionName).Get<PgMultiMasterOptions>()!;
        Assert.Empty(SettingKeys.Unknown(config));
        if (options.Nodes.Count == 0) return; // a whole-file example without nodes is not a cluster description
        Assert.Empty(OptionsValidator.Validate(options, requireNode: false));
    }
}
