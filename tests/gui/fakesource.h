#pragma once

// A ProgressSource for GUI tests that answers at once from fields the test sets:
// no engine, no database, no network (header only).

#include "progresssource.h"

class FakeSource : public ProgressSource
{
public:
    explicit FakeSource(Capabilities capabilities = Capabilities(PlaceOrders | InjectFaults | Retry),
                        QObject *parent = nullptr)
        : ProgressSource(parent)
        , m_capabilities(capabilities)
    {
    }

    QString kindName() const override { return QStringLiteral("Fake"); }
    QString location() const override { return QStringLiteral("fake://test"); }
    Capabilities capabilities() const override { return m_capabilities; }
    void start() override
    {
        if (!answersAtStart) {
            setState(State::Reconnecting, unreachable);
            return;
        }
        finishLoad();
    }
    // The first load, done (at start unless answersAtStart is false).
    void finishLoad()
    {
        setState(State::Live, {});
        setInitialLoadDone(0);
    }
    void stop() override {}

    void loadCase(const QUuid &orderId, QObject *context, std::function<void(OrderCase, QString)> done) override
    {
        OrderCase c = orderCase;
        c.orderId = orderId;
        ++caseLoads;
        if (!caseError.isEmpty())
            c = OrderCase{orderId, {}, {}, {}};
        post(context, [done, c, error = caseError] { done(c, error); });
    }
    // As the real sources do when their connection comes and goes.
    void changeState(State state, const QString &message) { setState(state, message); }
    void placeOrder(const OrderRequest &, QObject *context, std::function<void(PlaceOrderResult)> done) override
    {
        ++ordersPlaced;
        PlaceOrderResult r;
        r.ok = true;
        r.orderId = QUuid::createUuid();
        post(context, [done, r] { done(r); });
    }
    void retryEligibility(const QUuid &, QObject *context,
                          std::function<void(RetryEligibility, QString)> done) override
    {
        post(context, [done, e = eligibility] { done(e, {}); });
    }
    void retry(const RetryRequest &request, QObject *context, std::function<void(RetryDecision)> done) override
    {
        retriesSent.append(request);
        RetryDecision d;
        d.code = RetryDecision::Accepted;
        d.attemptNumber = 2;
        post(context, [done, d] { done(d); });
    }
    void faultPlan(QObject *context, std::function<void(FaultPlan, QString)> done) override
    {
        if (!planError.isEmpty())
            post(context, [done, error = planError] { done(FaultPlan{}, error); });
        else
            post(context, [done, p = plan] { done(p, {}); });
    }
    void setFaultPlan(const FaultPlan &p, QObject *context, std::function<void(QString)> done) override
    {
        plan = p;
        ++planWrites;
        post(context, [done] { done({}); });
    }

    bool answersAtStart = true; // else start() stays Reconnecting, saying `unreachable`
    QString unreachable = QStringLiteral("Cannot reach fake://test: the connection was refused.");
    OrderCase orderCase;
    QString caseError; // loadCase answers this error (and no case) while set
    int caseLoads = 0;
    int ordersPlaced = 0;
    RetryEligibility eligibility;
    QVector<RetryRequest> retriesSent;
    FaultPlan plan;
    QString planError; // faultPlan answers this error while set
    int planWrites = 0;

private:
    Capabilities m_capabilities;
};
