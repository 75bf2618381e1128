// What a web app does, in the browser: connect-web's grpc-web transport (binary) to the
// gateway, from another origin (so through CORS), with two signed-in users, each holding
// a StreamEvents server stream while the other talks to them.

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import {
  ChatService,
  CustomOfferState,
  type ChatEvent,
} from "./gen/gigmesh/chat/v1/chat_pb";

declare const GATEWAY: string;

const transport = createGrpcWebTransport({ baseUrl: GATEWAY, useBinaryFormat: true });
const chat = createClient(ChatService, transport);

/** One user's stream: every event it received, and a way to wait for one. */
class Stream {
  events: ChatEvent[] = [];
  failure: unknown = undefined;
  private waiters: Array<() => void> = [];
  private abort = new AbortController();

  constructor(token: string, resumeToken = "") {
    void this.read(token, resumeToken);
  }

  private async read(token: string, resumeToken: string) {
    try {
      for await (const event of chat.streamEvents(
        { resumeToken },
        { headers: { authorization: `Bearer ${token}` }, signal: this.abort.signal },
      )) {
        this.events.push(event);
        this.waiters.splice(0).forEach((wake) => wake());
      }
    } catch (error) {
      if (!this.abort.signal.aborted) this.failure = error;
      this.waiters.splice(0).forEach((wake) => wake());
    }
  }

  async waitFor(what: string, found: (event: ChatEvent) => boolean, ms = 10_000): Promise<ChatEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const event = this.events.find(found);
      if (event) return event;
      if (this.failure) throw new Error(`stream failed waiting for ${what}: ${this.failure}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms`);
      await new Promise<void>((wake) => {
        this.waiters.push(wake);
        setTimeout(wake, 200);
      });
    }
  }

  close() {
    this.abort.abort();
  }
}

type Config = { buyerToken: string; sellerToken: string; gigId: string };

async function runChatFlow(config: Config) {
  const buyer = { headers: { authorization: `Bearer ${config.buyerToken}` } };
  const seller = { headers: { authorization: `Bearer ${config.sellerToken}` } };
  const buyerStream = new Stream(config.buyerToken);
  const sellerStream = new Stream(config.sellerToken);
  const isHeartbeat = (event: ChatEvent) => event.kind.case === "heartbeat" && event.eventId !== "";
  await buyerStream.waitFor("the buyer's first heartbeat", isHeartbeat);
  await sellerStream.waitFor("the seller's first heartbeat", isHeartbeat);

  const conversation = await chat.startConversation({ gigId: config.gigId }, buyer);
  const text = "<b>Hello</b> from a browser: can you start Monday?";
  const question = await chat.sendMessage(
    { conversationId: conversation.id, text, requestId: crypto.randomUUID() },
    buyer,
  );
  const received = await sellerStream.waitFor(
    "the question on the seller's stream",
    (event) => event.kind.case === "messageSent" && event.kind.value.id === question.id,
  );
  if (received.kind.case !== "messageSent" || received.kind.value.text !== text) {
    throw new Error("the seller's stream changed the text");
  }

  await chat.markConversationRead({ conversationId: conversation.id, messageId: question.id }, seller);
  await buyerStream.waitFor(
    "the read receipt on the buyer's stream",
    (event) => event.kind.case === "readReceipt" && event.kind.value.messageId === question.id,
  );

  const offerMessage = await chat.sendCustomOffer(
    {
      conversationId: conversation.id,
      gigId: config.gigId,
      description: "Three logo concepts, two revisions, source files",
      price: { amountMinor: 17_500n, currency: "USD" },
      deliveryDays: 6,
      revisions: 2,
      expireAfterHours: 48,
      requestId: crypto.randomUUID(),
    },
    seller,
  );
  const offerId = offerMessage.customOffer?.id ?? "";
  await buyerStream.waitFor(
    "the offer on the buyer's stream",
    (event) => event.kind.case === "messageSent" && event.kind.value.customOffer?.id === offerId,
  );

  // Bad input comes back as INVALID_ARGUMENT with the field in the error details.
  let badField = "";
  try {
    await chat.sendMessage({ conversationId: conversation.id, text: "  ", requestId: "x" }, buyer);
  } catch (error) {
    const connectError = ConnectError.from(error);
    if (connectError.code !== Code.InvalidArgument) throw error;
    badField = connectError.rawMessage;
  }
  // The seller cannot accept their own offer.
  let ownAccept = "";
  try {
    await chat.acceptCustomOffer({ offerId }, seller);
  } catch (error) {
    ownAccept = Code[ConnectError.from(error).code];
  }

  const accepted = await chat.acceptCustomOffer({ offerId }, buyer);
  if (accepted.state !== CustomOfferState.ACCEPTED) throw new Error("not accepted");
  await sellerStream.waitFor(
    "the accepted offer on the seller's stream",
    (event) =>
      event.kind.case === "customOfferChanged" &&
      event.kind.value.id === offerId &&
      event.kind.value.state === CustomOfferState.ACCEPTED,
  );
  buyerStream.close();
  sellerStream.close();
  return {
    conversationId: conversation.id,
    questionId: question.id,
    offerId,
    orderId: accepted.orderId,
    badField,
    ownAccept,
    sellerEvents: sellerStream.events.map((event) => event.kind.case),
  };
}

(window as unknown as { runChatFlow: typeof runChatFlow }).runChatFlow = runChatFlow;
