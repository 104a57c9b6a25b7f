#pragma once

#include "engineconfig.h"
#include "progresssource.h"
#include "storeerror.h"

#include <memory>

class EngineHost;
class EventFeed;
class StoreReader;

// The engine in a worker thread of this process (EngineHost), SQLite in the
// user's data folder by default. Existing orders are read by a StoreReader (its
// own connection, its own thread) once the engine has migrated the database;
// events the engine commits meanwhile are held back and delivered after the
// snapshots, so a snapshot never overwrites a newer state.
class EmbeddedSource : public ProgressSource
{
    Q_OBJECT
public:
    explicit EmbeddedSource(const EngineConfig &config, QObject *parent = nullptr);
    ~EmbeddedSource() override;

    QString kindName() const override;
    QString location() const override;
    Capabilities capabilities() const override;

    void start() override;
    void stop() override;

    void placeOrder(const OrderRequest &request, QObject *context,
                    std::function<void(PlaceOrderResult)> done) override;
    void retryEligibility(const QUuid &orderId, QObject *context,
                          std::function<void(RetryEligibility, QString error)> done) override;
    void retry(const RetryRequest &request, QObject *context,
               std::function<void(RetryDecision)> done) override;
    void faultPlan(QObject *context, std::function<void(FaultPlan, QString error)> done) override;
    void setFaultPlan(const FaultPlan &plan, QObject *context,
                      std::function<void(QString error)> done) override;
    void loadCase(const QUuid &orderId, QObject *context,
                  std::function<void(OrderCase, QString error)> done) override;

    EngineHost *engine() const { return m_engine; }

    bool isRunningForChunks() const { return m_running; }

private:
    void onEngineStarted();
    void onEngineEvents(const QVector<OrderEvent> &events);
    void followOtherPrograms(qint64 afterPosition);
    void onReaderOpened(const StoreError &error);
    QString liveMessage() const;

    EngineConfig m_config;
    EngineHost *m_engine = nullptr;   // child
    StoreReader *m_reader = nullptr;  // child
    // Every program's events on the database after the first load (other consoles
    // and saga-servers on the same file or database); this engine's come back too.
    std::unique_ptr<EventFeed> m_feed;
    QVector<OrderEvent> m_heldBack;   // events committed during the first load
    bool m_loading = true;
    bool m_running = false;
};
