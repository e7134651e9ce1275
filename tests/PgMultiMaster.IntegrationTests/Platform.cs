// The integration tests start PostgreSQL servers as a Unix user of their own and read /proc: Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
