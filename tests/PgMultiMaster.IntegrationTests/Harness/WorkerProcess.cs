using System.Diagnostics;
using System.Text;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>A real <c>pgmm run</c> process, for tests that kill the worker the hard way.</summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    // Workers still running when the test process ends (a test that never disposed its worker, a run cut short) are
    // killed then: an orphaned worker would keep replicating into the next run's databases.
    private static readonly HashSet<Process> Running = [];

    static WorkerProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        lock (Running)
            foreach (var p in Running)
                try { if (!p.HasExited) p.Kill(entireProcessTree: true); }
                catch (InvalidOperationException) { /* already gone */ }
    };

    private WorkerProcess(Process process)
    {
        _process = process;
        lock (Running) Running.Add(process);
    }

    public static WorkerProcess Start(string configPath, string node, params string[] extraArgs) =>
        Start(configPath, node, new Dictionary<string, string>(), extraArgs);

    public static WorkerProcess Start(string configPath, string node, IReadOnlyDictionary<string, string> environment, params string[] extraArgs)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "pgmm.dll"), "run", "--config", configPath, "--node", node }.Concat(extraArgs))
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start pgmm");
        var worker = new WorkerProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (worker._output) worker._output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (worker._output) worker._output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>Where the worker serves HTTP, read from its start-up log line (it binds a free port in tests).</summary>
    public async Task<string> BaseUrlAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var match = System.Text.RegularExpressions.Regex.Match(Output, @"Serving metrics, status and the dashboard on (http://[^\s,]+)");
            if (match.Success) return match.Groups[1].Value;
            if (HasExited || DateTime.UtcNow > deadline) throw new InvalidOperationException("the worker did not report its HTTP address:\n" + Output);
            await Task.Delay(50);
        }
    }
    /// <summary>The most memory the process has held so far (VmHWM of /proc/PID/status), in bytes.</summary>
    public long PeakResidentBytes()
    {
        var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>SIGKILL: no shutdown code runs, open transactions die with the connections.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM, as systemd or Kubernetes stops a worker; waits for it to exit.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await kill!.WaitForExitAsync();
        }
        return await WaitForExitAsync(timeout);
    }

    /// <summary>Waits for the worker to exit; one that does not within <paramref name="timeout"/> is killed, and the wait fails.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"the worker did not exit within {timeout} and was killed:\n" + Output);
        }
        return _process.ExitCode;
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        lock (Running) Running.Remove(_process);
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
