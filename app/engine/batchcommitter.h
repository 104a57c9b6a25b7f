#pragma once

// One of the engine's committers: a parentless worker QObject that the
// Orchestrator moves to its own QThread. It owns a SagaStore connection, opened in
// that thread, and commits the batches the orchestrator hands it (queued calls),
// one at a time and in the order received, so the orchestrator keeps accepting
// step results and building the next batch while one commits (pipelining). Each
// batch is answered with reported(), queued back to the orchestrator's thread. On
// PostgreSQL the orchestrator runs two committers (two connections committing at
// the same time); their reports may interleave in either order.
//
// A batch the store refuses (Conflict / Invalid, e.g. a lost lease) is committed
// again one transition at a time so only the offending transitions are refused.
// When the database goes away the report says how many transitions are in doubt;
// the connection is reopened (reconnect()) before the next batch.

#include "commitreport.h"
#include "databaseurl.h"
#include "storetransition.h"

#include <QObject>
#include <QString>
#include <QVector>
#include <memory>

class SagaStore;

class BatchCommitter : public QObject
{
    Q_OBJECT
public:
    BatchCommitter(const DatabaseUrl &url, const QString &connectionName, const QString &leaseOwner, qint64 leaseMs);
    ~BatchCommitter() override;

    // These run in the committer's thread.
    StoreError open();
    StoreError reconnect();
    void commit(quint64 batchId, const QVector<StoreTransition> &batch);
    void close();

Q_SIGNALS:
    void reported(const CommitReport &report);

private:
    DatabaseUrl m_url;
    QString m_connectionName;
    QString m_leaseOwner;
    qint64 m_leaseMs = 0;
    bool m_broken = false; // the last call lost the connection: reconnect first
    std::unique_ptr<SagaStore> m_store;
};
