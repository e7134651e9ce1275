using System.Text.Json;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>The dashboard in a real headless Chromium (Debian's chromium + chromedriver) against a live 3-node mesh.</summary>
[Collection(ServersCollection.Name)]
public sealed class DashboardTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Token = "dash-s3cret";

    [Fact]
    public async Task The_dashboard_shows_every_link_and_a_conflict_with_its_rows_side_by_side()
    {
        await using var live = await LiveMesh.StartAsync(servers, output, o => o.Monitoring.AccessToken = Token);
        await live.MakeConflictsAsync();
        // Some traffic for the charts.
        for (var i = 0; i < 30; i++) await live.Mesh.ExecAsync(live.Mesh.NodeNames[i % 3], "INSERT INTO public.accounts VALUES ($1, 'chart', $1)", 1000 + i);

        using var browser = Browser.Start();
        // Any worker serves the whole cluster: open west's, though the conflict was resolved by east's link. The token
        // comes in the fragment, which the browser never sends to the server.
        browser.Navigate().GoToUrl(live.Urls["west"] + "/#token=" + Token);
        var wait = Wait(browser);
        wait.Until(d => d.FindElement(By.TagName("body")).GetAttribute("data-loaded") == "true");
        // The page took the token out of the address bar: it is not bookmarked, shared or kept in the history.
        Assert.DoesNotContain(Token, browser.Url, StringComparison.Ordinal);

        foreach (var source in live.Mesh.NodeNames)
            foreach (var target in live.Mesh.NodeNames.Where(t => t != source))
                wait.Until(d => d.FindElement(By.CssSelector($"tr[data-link='{source}->{target}'] td.state")).Text == "streaming");

        // Read the conflict's card in one go (a snapshot of its texts), retried if a re-render replaced it.
        var conflict = wait.Until(d =>
        {
            var card = d.FindElements(By.CssSelector("article.conflict[data-node='west']"))
                .FirstOrDefault(c => c.FindElement(By.CssSelector(".conflict-table")).Text == "public.accounts");
            if (card is null) return null;
            string Text(string css) => card.FindElement(By.CssSelector(css)).Text;
            return new
            {
                Type = Text(".conflict-type"),
                Local = Text(".panel-local tr[data-column='balance']"),
                LocalClass = card.FindElement(By.CssSelector(".panel-local tr[data-column='balance']")).GetAttribute("class") ?? "",
                Remote = Text(".panel-remote tr[data-column='balance']"),
                Kept = Text(".panel-kept tr[data-column='balance']"),
            };
        });
        Assert.Equal("update_origin_differs", conflict!.Type);
        // Local (west's 120), remote (east's 99) and kept (120) side by side, the differing column marked.
        Assert.Contains("120", conflict.Local);
        Assert.Contains("99", conflict.Remote);
        Assert.Contains("diff", conflict.LocalClass);
        Assert.Contains("120", conflict.Kept);

        var parkedError = wait.Until(d => d.FindElements(By.CssSelector("article.dead-letter[data-node='west'] .dead-letter-error")).FirstOrDefault()?.Text);
        Assert.Contains("parked by rule", parkedError);

        // A page opened without the token asks for it, and takes it pasted into its banner.
        ((IJavaScriptExecutor)browser).ExecuteScript("sessionStorage.clear()");
        browser.Navigate().GoToUrl(live.Urls["west"] + "/");
        wait.Until(d => d.FindElement(By.Id("token-input"))).SendKeys(Token + Keys.Enter);
        wait.Until(d => d.FindElement(By.TagName("body")).GetAttribute("data-loaded") == "true");

        // A stopped worker shows as down, with its links.
        live.Workers["north"].Kill();
        wait.Timeout = TimeSpan.FromSeconds(40);
        wait.Until(d => d.FindElement(By.CssSelector("tr[data-link='north->east'] td.state")).Text == "down");
        wait.Until(d => d.FindElement(By.CssSelector("tr[data-link='east->north'] td.state")).Text == "streaming");

        var path = Path.Combine(AppContext.BaseDirectory, $"dashboard-pg{servers.Servers[0].MajorVersion}.png");
        ((ITakesScreenshot)browser).GetScreenshot().SaveAsFile(path);
        output.WriteLine($"screenshot: {path}");
        Assert.True(new FileInfo(path).Length > 10_000, "the screenshot is suspiciously small");
    }

    [Fact]
    public async Task With_row_values_hidden_the_api_and_the_dashboard_list_the_conflict_without_its_values()
    {
        await using var live = await LiveMesh.StartAsync(servers, output, o => o.Monitoring.ShowRowValues = false);
        await live.MakeConflictsAsync();

        // The whole answer holds none of the rows' values (west's 'alice' with 120, east's 99) nor their columns.
        var body = await live.GetAsync("west", "/api/cluster");
        output.WriteLine(body);
        Assert.DoesNotContain("alice", body, StringComparison.Ordinal);
        Assert.DoesNotContain("\"balance\"", body, StringComparison.Ordinal);
        var cluster = JsonDocument.Parse(body).RootElement;
        Assert.Equal("hidden", cluster.GetProperty("rowValues").GetString());
        var west = cluster.GetProperty("nodes").EnumerateArray().Single(n => n.GetProperty("node").GetString() == "west");
        // The conflict and the parked change are listed all the same: what, where, how resolved, why.
        var conflict = west.GetProperty("recentConflicts").EnumerateArray().Single(c => c.GetProperty("table").GetString() == "public.accounts");
        Assert.Equal("update_origin_differs", conflict.GetProperty("type").GetString());
        Assert.Equal("keep_local", conflict.GetProperty("resolution").GetString());
        foreach (var row in new[] { "key", "localRow", "remoteRow", "keptRow" })
            Assert.Equal(JsonValueKind.Null, conflict.GetProperty(row).ValueKind);
        var parked = west.GetProperty("recentDeadLetters").EnumerateArray().Single();
        Assert.Equal("public.parked", parked.GetProperty("table").GetString());
        Assert.Equal(JsonValueKind.Null, parked.GetProperty("row").ValueKind);
        Assert.Contains("parked by rule", parked.GetProperty("reason").GetString());
        foreach (var item in new[] { conflict, parked })
            Assert.DoesNotMatch(@"(?<![\d.])(120|99)(?![\d.])", item.GetRawText());

        using var browser = Browser.Start();
        browser.Navigate().GoToUrl(live.Urls["west"] + "/");
        var wait = Wait(browser);
        var shown = wait.Until(d => d.FindElements(By.CssSelector("article.conflict[data-node='west'] .values-hidden")).FirstOrDefault()?.Text);
        Assert.Contains("row values hidden", shown);
        Assert.Empty(browser.FindElements(By.CssSelector("article.conflict .rows3")));
        wait.Until(d => d.FindElements(By.CssSelector("article.dead-letter[data-node='west'] .values-hidden")).Count == 1);
        Assert.DoesNotContain("alice", browser.FindElement(By.TagName("main")).Text, StringComparison.Ordinal);
    }

    private static WebDriverWait Wait(ChromeDriver browser)
    {
        var wait = new WebDriverWait(browser, TimeSpan.FromSeconds(60)) { PollingInterval = TimeSpan.FromMilliseconds(200) };
        // The page re-renders every poll: an element found a moment ago may be replaced; read again then.
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException), typeof(NoSuchElementException));
        return wait;
    }

    /// <summary>Debian's Chromium through its chromedriver, with the flags this sandboxed machine needs.</summary>
    private static class Browser
    {
        public static ChromeDriver Start()
        {
            const string chromium = "/usr/bin/chromium", driver = "/usr/bin/chromedriver";
            if (!File.Exists(chromium) || !File.Exists(driver))
                throw new InvalidOperationException($"the dashboard test needs {chromium} and {driver}: apt-get install chromium chromium-driver");
            var options = new ChromeOptions { BinaryLocation = chromium };
            options.AddArguments("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,2200",
                "--user-data-dir=" + Directory.CreateTempSubdirectory("pgmm-chromium-").FullName);
            var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driver)!, Path.GetFileName(driver));
            service.SuppressInitialDiagnosticInformation = true;
            return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        }
    }
}
