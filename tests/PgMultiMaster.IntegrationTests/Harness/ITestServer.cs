namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>A real PostgreSQL server the tests can connect to, stop and start again.</summary>
public interface ITestServer : IAsyncDisposable
{
    string Name { get; }
    int MajorVersion { get; }
    string ConnectionString(string database);
    Task StopAsync();
    Task StartAsync();
}
