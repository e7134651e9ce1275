# syntax=docker/dockerfile:1
# The pgmm image: `docker build -t ghcr.io/pgmultimaster/pgmm:0.1.0 .` from the repository root.
# Run: docker run --rm -v $PWD/appsettings.json:/etc/pgmm/appsettings.json:ro \
#        -e PgMultiMaster__Nodes__0__ConnectionString=... ghcr.io/pgmultimaster/pgmm:0.1.0 \
#        run --config /etc/pgmm/appsettings.json --node east

# ---- build ---------------------------------------------------------------------------------------------------------
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src

# Restore first, from the project files alone, so that the package layer is cached until a dependency changes.
# .editorconfig is part of the build: it sets the analyzer severities that TreatWarningsAsErrors applies.
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/PgMultiMaster.Core/PgMultiMaster.Core.csproj src/PgMultiMaster.Core/
COPY src/PgMultiMaster/PgMultiMaster.csproj src/PgMultiMaster/
RUN dotnet restore src/PgMultiMaster/PgMultiMaster.csproj

# sql/*.sql is embedded into PgMultiMaster.Core (../../sql/*.sql).
COPY sql/ sql/
COPY src/ src/
RUN dotnet publish src/PgMultiMaster/PgMultiMaster.csproj -c Release -o /app --no-restore --no-self-contained \
        -p:UseAppHost=false \
    && printf '#!/bin/sh\nexec dotnet /app/pgmm.dll "$@"\n' > /app/pgmm \
    && chmod 0755 /app/pgmm

# ---- runtime -------------------------------------------------------------------------------------------------------
# ASP.NET Core runtime: the worker serves /healthz, /readyz, /metrics, /api/* and the dashboard with Kestrel.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app/ /app/
# `pgmm VERB ...` on the PATH, for `kubectl exec deploy/<worker> -- pgmm status --config /etc/pgmm/appsettings.json`.
COPY --from=build /app/pgmm /usr/local/bin/pgmm

# The worker binds to PgMultiMaster:Monitoring:Urls (http://0.0.0.0:9478 in the Helm chart), not to the image's
# default ASP.NET Core port 8080. HOME and the diagnostics sockets go to /tmp, the only writable place when the
# root filesystem is read-only (the chart mounts an emptyDir there).
ENV ASPNETCORE_HTTP_PORTS= \
    HOME=/tmp \
    DOTNET_NOLOGO=1

# Non-root, numeric so that Kubernetes' runAsNonRoot can verify it without a passwd entry.
USER 10001:10001
EXPOSE 9478
ENTRYPOINT ["dotnet", "/app/pgmm.dll"]
CMD ["help"]
