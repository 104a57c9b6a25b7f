#include "neworderdialog.h"

#include "demotraffic.h"
#include "requestproblem.h"
#include "sagajson.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>

NewOrderDialog::NewOrderDialog(DemoTraffic *demo, QWidget *parent)
    : QDialog(parent)
    , m_demo(demo)
{
    setWindowTitle(tr("New Order"));
    auto *layout = new QVBoxLayout(this);

    auto *orderBox = new QGroupBox(tr("Order"), this);
    auto *form = new QFormLayout(orderBox);
    m_preset = new QComboBox(orderBox);
    m_preset->setObjectName(QStringLiteral("preset"));
    for (int i = 0; i < kOrderPresetCount; ++i)
        m_preset->addItem(OrderPresets::displayName(OrderPreset(i)), i);
    form->addRow(tr("&Preset:"), m_preset);
    m_expected = new QLabel(orderBox);
    m_expected->setWordWrap(true);
    m_expected->setEnabled(false);
    form->addRow(QString(), m_expected);

    auto *customerRow = new QHBoxLayout;
    m_customer = new QLineEdit(orderBox);
    m_customer->setPlaceholderText(tr("empty: a new random customer"));
    auto *newCustomer = new QToolButton(orderBox);
    newCustomer->setText(tr("New"));
    newCustomer->setToolTip(tr("A new random customer id"));
    connect(newCustomer, &QToolButton::clicked, this,
            [this] { m_customer->setText(QUuid::createUuid().toString(QUuid::WithoutBraces)); });
    customerRow->addWidget(m_customer, 1);
    customerRow->addWidget(newCustomer);
    // A row that is a layout gets a label without a buddy: its '&' showed as
    // it is and Alt+U did nothing. The label names the field to focus.
    auto *customerLabel = new QLabel(tr("C&ustomer id:"), orderBox);
    customerLabel->setBuddy(m_customer);
    form->addRow(customerLabel, customerRow);
    m_productId = new QLineEdit(orderBox);
    m_productName = new QLineEdit(orderBox);
    m_quantity = new QSpinBox(orderBox);
    m_quantity->setRange(1, 1000);
    m_price = new QSpinBox(orderBox);
    m_price->setRange(0, 10'000'000);
    m_price->setSuffix(tr(" ¢"));
    form->addRow(tr("Product id:"), m_productId);
    form->addRow(tr("Product name:"), m_productName);
    auto *qtyRow = new QHBoxLayout;
    qtyRow->addWidget(m_quantity);
    qtyRow->addWidget(new QLabel(tr("unit price:"), orderBox));
    qtyRow->addWidget(m_price, 1);
    form->addRow(tr("Quantity:"), qtyRow);
    m_payment = new QLineEdit(orderBox);
    form->addRow(tr("Payment method:"), m_payment);
    m_street = new QLineEdit(orderBox);
    m_city = new QLineEdit(orderBox);
    m_state = new QLineEdit(orderBox);
    m_postalCode = new QLineEdit(orderBox);
    m_country = new QLineEdit(orderBox);
    m_country->setMaxLength(2);
    form->addRow(tr("Street:"), m_street);
    auto *cityRow = new QHBoxLayout;
    cityRow->addWidget(m_city, 3);
    cityRow->addWidget(m_state, 1);
    form->addRow(tr("City, state:"), cityRow);
    auto *postRow = new QHBoxLayout;
    postRow->addWidget(m_postalCode, 2);
    postRow->addWidget(new QLabel(tr("country:"), orderBox));
    postRow->addWidget(m_country, 1);
    form->addRow(tr("Postal code:"), postRow);
    auto *placeRow = new QHBoxLayout;
    m_result = new QLabel(orderBox);
    m_result->setObjectName(QStringLiteral("result"));
    m_result->setWordWrap(true);
    m_place = new QPushButton(tr("&Place order"), orderBox);
    m_place->setDefault(true);
    m_sendAgain = new QPushButton(tr("Send &again"), orderBox);
    m_sendAgain->setObjectName(QStringLiteral("sendAgain"));
    m_sendAgain->setToolTip(tr("Sends the order that got no answer once more, with the same Idempotency-Key: "
                               "saga-server places it at most once."));
    m_sendAgain->hide();
    placeRow->addStretch(1);
    placeRow->addWidget(m_sendAgain);
    placeRow->addWidget(m_place);
    form->addRow(placeRow);
    // The message has a row of its own, the form's whole width: squeezed next to
    // the button, a two-line sentence got the button's height and was cut.
    form->addRow(m_result);
    layout->addWidget(orderBox);

    auto *demoBox = new QGroupBox(tr("Demo traffic"), this);
    auto *demoForm = new QFormLayout(demoBox);
    m_perMinute = new QSpinBox(demoBox);
    m_perMinute->setObjectName(QStringLiteral("ordersPerMinute"));
    m_perMinute->setRange(1, 6000);
    m_perMinute->setSuffix(tr(" orders/min"));
    m_perMinute->setValue(m_demo->ordersPerMinute());
    demoForm->addRow(tr("&Rate:"), m_perMinute);
    auto *mixRow = new QHBoxLayout;
    m_failureMix = new QSlider(Qt::Horizontal, demoBox);
    m_failureMix->setObjectName(QStringLiteral("failureMix"));
    m_failureMix->setRange(0, 100);
    m_failureMix->setValue(m_demo->failurePercent());
    m_failureMixLabel = new QLabel(demoBox);
    m_failureMixLabel->setMinimumWidth(m_failureMixLabel->fontMetrics().horizontalAdvance(QStringLiteral("100% failing")));
    mixRow->addWidget(m_failureMix, 1);
    mixRow->addWidget(m_failureMixLabel);
    auto *mixLabel = new QLabel(tr("&Failures:"), demoBox);
    mixLabel->setBuddy(m_failureMix);
    demoForm->addRow(mixLabel, mixRow);
    m_demoButton = new QPushButton(demoBox);
    m_demoButton->setCheckable(true);
    demoForm->addRow(QString(), m_demoButton);
    layout->addWidget(demoBox);

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);

    connect(m_preset, &QComboBox::currentIndexChanged, this,
            [this] { fill(OrderPresets::make(preset())); });
    connect(m_place, &QPushButton::clicked, this, [this] {
        if (!problem().isEmpty() || m_inFlight)
            return;
        // One order per click: Place stays disabled until the answer (showResult).
        m_inFlight = true;
        m_resultText = tr("Placing…");
        m_resultOk = true;
        updatePlacing();
        Q_EMIT placeRequested(request());
    });
    connect(m_sendAgain, &QPushButton::clicked, this, [this] {
        if (!m_unanswered || m_inFlight)
            return;
        m_inFlight = true;
        m_resultText = tr("Sending the order again…");
        m_resultOk = true;
        updatePlacing();
        Q_EMIT placeRequested(*m_unanswered);
    });
    for (QLineEdit *edit : {m_customer, m_productId, m_productName, m_payment, m_street, m_city, m_state,
                            m_postalCode, m_country})
        connect(edit, &QLineEdit::textChanged, this, &NewOrderDialog::updatePlacing);
    connect(m_perMinute, &QSpinBox::valueChanged, m_demo, &DemoTraffic::setOrdersPerMinute);
    connect(m_failureMix, &QSlider::valueChanged, this, [this](int v) {
        m_demo->setFailurePercent(v);
        updateDemoControls();
    });
    connect(m_demoButton, &QPushButton::toggled, m_demo, &DemoTraffic::setRunning);
    connect(m_demo, &DemoTraffic::runningChanged, this, &NewOrderDialog::updateDemoControls);
    fill(OrderPresets::make(OrderPreset::HappyPath));
    updateDemoControls();
    updatePlacing();
}

void NewOrderDialog::setPreset(OrderPreset preset)
{
    m_preset->setCurrentIndex(int(preset));
}

OrderPreset NewOrderDialog::preset() const
{
    return OrderPreset(m_preset->currentData().toInt());
}

void NewOrderDialog::fill(const OrderRequest &r)
{
    m_expected->setText(OrderPresets::expectedOutcome(preset()));
    m_customer->setText(r.customerId.toString(QUuid::WithoutBraces));
    const OrderItem item = r.items.value(0);
    m_productId->setText(item.productId);
    m_productName->setText(item.productName);
    m_quantity->setValue(item.quantity);
    m_price->setValue(int(item.unitPriceInCents));
    m_payment->setText(r.paymentMethodId);
    m_street->setText(r.shippingAddress.street);
    m_city->setText(r.shippingAddress.city);
    m_state->setText(r.shippingAddress.state);
    m_postalCode->setText(r.shippingAddress.postalCode);
    m_country->setText(r.shippingAddress.country);
}

OrderRequest NewOrderDialog::request() const
{
    OrderRequest r;
    const QString customer = m_customer->text().trimmed();
    r.customerId = customer.isEmpty() ? QUuid::createUuid() : QUuid::fromString(customer);
    r.items.append(OrderItem{m_productId->text().trimmed(), m_productName->text().trimmed(),
                             m_quantity->value(), m_price->value()});
    r.paymentMethodId = m_payment->text().trimmed();
    r.shippingAddress = ShippingAddress{m_street->text().trimmed(), m_city->text().trimmed(),
                                        m_state->text().trimmed(), m_postalCode->text().trimmed(),
                                        m_country->text().trimmed().toUpper()};
    return r;
}

QString NewOrderDialog::problem() const
{
    const OrderRequest r = request();
    if (r.customerId.isNull())
        return tr("Customer id must be a UUID such as 550e8400-e29b-41d4-a716-446655440000, or empty for a "
                  "new random customer.");
    // saga-server's own rules, so the embedded engine gets only what the server would take.
    const Parsed<OrderRequest> parsed = SagaJson::checkOrderRequest(r);
    if (parsed.ok())
        return {};
    return requestProblemText(parsed.field, parsed.error);
}

void NewOrderDialog::setPlacingEnabled(bool enabled, const QString &whyNot)
{
    m_placingAllowed = enabled;
    m_whyNot = whyNot;
    m_demoButton->setEnabled(enabled || m_demo->isRunning());
    updatePlacing();
}

void NewOrderDialog::showResult(const QString &text, bool ok)
{
    m_inFlight = false;
    m_unanswered.reset();
    m_resultText = text;
    m_resultOk = ok;
    updatePlacing();
}

void NewOrderDialog::offerSendAgain(const OrderRequest &sent)
{
    m_unanswered = sent;
    updatePlacing();
}

void NewOrderDialog::updatePlacing()
{
    const QString why = problem();
    m_place->setEnabled(m_placingAllowed && why.isEmpty() && !m_inFlight);
    m_sendAgain->setVisible(m_unanswered.has_value());
    m_sendAgain->setEnabled(m_placingAllowed && !m_inFlight);
    QString text = m_resultText;
    bool error = !m_resultOk;
    if (!m_placingAllowed) {
        text = m_whyNot;
        error = false;
    } else if (!why.isEmpty()) {
        text = why;
        error = true;
    }
    m_result->setText(text);
    m_result->setStyleSheet(error ? QStringLiteral("color: #C5221F;") : QString());
    fitHeightToWidth();
}

void NewOrderDialog::resizeEvent(QResizeEvent *event)
{
    QDialog::resizeEvent(event);
    fitHeightToWidth();
}

void NewOrderDialog::fitHeightToWidth()
{
    QLayout *l = layout();
    if (!l || !l->hasHeightForWidth())
        return;
    l->activate();
    const int needed = l->totalHeightForWidth(width());
    if (needed != minimumHeight())
        setMinimumHeight(needed);
}

void NewOrderDialog::updateDemoControls()
{
    m_failureMixLabel->setText(tr("%1% failing").arg(m_failureMix->value()));
    const bool running = m_demo->isRunning();
    const QSignalBlocker blocker(m_demoButton);
    m_demoButton->setChecked(running);
    m_demoButton->setText(running ? tr("Stop demo traffic") : tr("Start demo traffic"));
}
