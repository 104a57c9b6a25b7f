#pragma once

#include "serverconfig.h"

#include <QObject>
#include <memory>

class EngineHost;
class SagaServer;

// One saga-server: the engine (in its worker thread) and the HTTP server in
// front of it, with the order of start and graceful stop. Used by main() and
// by the in-process tests.
class ServerRuntime : public QObject
{
    Q_OBJECT
public:
    explicit ServerRuntime(const ServerConfig &config, QObject *parent = nullptr);
    ~ServerRuntime() override;

    // Starts the engine, then listens. Emits ready(port) or failed(reason).
    void start();
    // No new sagas or connections, streams closed, in-flight sagas finished or
    // their leases released (EngineHost::shutdown); then emits stopped().
    void shutdown();

    quint16 port() const;
    SagaServer *server() const { return m_server.get(); }
    EngineHost *engine() const { return m_engine.get(); }
    const ServerConfig &config() const { return m_config; }

Q_SIGNALS:
    void ready(quint16 port);
    void failed(const QString &reason);
    void stopped();

private:
    ServerConfig m_config;
    std::unique_ptr<EngineHost> m_engine;
    std::unique_ptr<SagaServer> m_server;
    bool m_stopping = false;
};
